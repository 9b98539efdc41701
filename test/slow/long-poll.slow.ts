import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { fakeSkypeFrontEnd } from '../../gateway/lab/fake-skype.js'
import { decodeWbxml, findText } from '../../gateway/protocols/wbxml/codec.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { client, send } from '../helpers/http.js'

// undici's default headers and body timeouts are 300 s: a gateway built on its defaults cuts every
// Direct Push Ping longer than that. Hold one (and a UCWA event P-GET) for 310 s through the gateway.
const HOLD_MS = 310_000

test('a Ping and a UCWA event P-GET held for more than 300 s come back through the gateway', { timeout: HOLD_MS + 60_000 }, async t => {
  const exchange = fakeExchange('exch01', { pingHoldMs: HOLD_MS })
  const skype = fakeSkypeFrontEnd('fe01', { eventHoldMs: HOLD_MS })
  await Promise.all([exchange.listen(), skype.listen()])
  closeAfter(t, exchange, skype)
  const { gateway, logs } = await startTestGateway(t, {
    upstreams: { exchange: { servers: [exchange.url] }, skype: { servers: [skype.url] } },
    services: { activesync: { upstream: 'exchange' }, ucwa: { upstream: 'skype' } }
  })
  const agent = client()
  t.after(() => agent.destroy())
  const started = Date.now()
  const [ping, events] = await Promise.all([
    send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: 'Basic YTpi' }, dispatcher: agent }),
    send(`${gateway.url}/ucwa/oauth/v1/applications/1/events?ack=1&timeout=1800`, { headers: { authorization: 'Bearer cwt=x' }, dispatcher: agent })
  ])
  const heldMs = Date.now() - started
  assert.ok(heldMs >= HOLD_MS, `held ${heldMs} ms`)
  assert.equal(ping.status, 200)
  assert.equal(findText(decodeWbxml(ping.body), 'Ping:Status'), '1')
  assert.equal(events.status, 200)
  assert.ok(JSON.parse(events.body.toString())._links.next)
  const line = logs.find('request').find(l => l.command === 'Ping')
  assert.equal(line?.status, 200)
})
