import type { TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { fakeSkypeFrontEnd } from '../../gateway/lab/fake-skype.js'
import type { SimServer } from '../../gateway/lab/sim-server.js'
import { closeAfter, startTestGateway } from './gateway.js'

/** One Exchange and one Skype front end behind a gateway publishing every service. */
export async function exchangeAndSkype (t: TestContext, extra: Record<string, unknown> = {}): Promise<{ exchange: SimServer & { newMail: () => number }, skype: SimServer } & Awaited<ReturnType<typeof startTestGateway>>> {
  const exchange = fakeExchange('exch01', { pingHoldMs: 600_000 })
  const skype = fakeSkypeFrontEnd('fe01')
  await Promise.all([exchange.listen(), skype.listen()])
  closeAfter(t, exchange, skype)
  const started = await startTestGateway(t, {
    upstreams: {
      exchange: { servers: [exchange.url] },
      skype: { servers: [skype.url] }
    },
    services: { activesync: { upstream: 'exchange' }, ews: { upstream: 'exchange' }, autodiscover: { upstream: 'exchange' }, ucwa: { upstream: 'skype' } },
    ...extra
  })
  return { exchange, skype, ...started }
}
