import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { fakeSkypeFrontEnd } from '../../gateway/lab/fake-skype.js'
import type { SimServer } from '../../gateway/lab/sim-server.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { client, send } from '../helpers/http.js'
import { waitFor } from '../helpers/ports.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const FAST_CHECKS = { path: '/ucwa/v1/applications', expect: [401], intervalMs: 200, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 2 }

async function pools (t: Parameters<typeof closeAfter>[0]): Promise<{ skype: SimServer[], exchange: SimServer[] }> {
  const skype = [fakeSkypeFrontEnd('fe01'), fakeSkypeFrontEnd('fe02'), fakeSkypeFrontEnd('fe03')]
  const exchange = [fakeExchange('exch01'), fakeExchange('exch02'), fakeExchange('exch03')]
  await Promise.all([...skype, ...exchange].map(s => s.listen()))
  closeAfter(t, ...skype, ...exchange)
  return { skype, exchange }
}

test('the incident: one front end of three answers IIS 503; 500 mixed requests, no client sees an error', { timeout: 120_000 }, async t => {
  const { skype, exchange } = await pools(t)
  const [brokenFe, brokenExch] = [skype[2] as SimServer, exchange[1] as SimServer]
  brokenFe.mode = 'iis-503'
  brokenExch.mode = 'iis-503'
  process.env.PORTCULLIS_TEST_ADMIN_TOKEN ??= 'test-admin-token'
  const { gateway, logs } = await startTestGateway(t, {
    admin: { tokenEnv: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: {
      skype: { servers: skype.map(s => s.url), healthCheck: FAST_CHECKS },
      exchange: { servers: exchange.map(s => s.url), healthCheck: { ...FAST_CHECKS, path: '/Microsoft-Server-ActiveSync' } }
    },
    services: { ucwa: { upstream: 'skype' }, activesync: { upstream: 'exchange' } }
  })
  const agent = client()
  t.after(() => agent.destroy())
  const sent = new Map<string, string>() // request id → body hash
  const failures: string[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < 500) {
      const i = next++
      const id = `req-${i}`
      const ucwa = i % 2 === 0
      const body = ucwa
        ? Buffer.from(JSON.stringify({ UserAgent: 'UCWA Samples', EndpointId: id, Culture: 'en-US' }))
        : randomBytes(1024 + Math.floor(Math.random() * 499 * 1024))
      sent.set(id, sha(body))
      const res = ucwa
        ? await send(`${gateway.url}/ucwa/oauth/v1/applications`, { method: 'POST', body, headers: { authorization: 'Bearer cwt=AAEB', 'content-type': 'application/json', 'x-test-id': id }, dispatcher: agent })
        : await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=Sync&User=u${i}&DeviceId=D${i}&DeviceType=iPhone`, { method: 'POST', body, headers: { authorization: 'Basic YTpi', 'content-type': 'application/vnd.ms-sync.wbxml', 'x-test-id': id }, dispatcher: agent })
      if (res.status !== (ucwa ? 201 : 200)) failures.push(`${id}: ${res.status}`)
    }
  }
  await Promise.all(Array.from({ length: 10 }, worker))
  assert.deepEqual(failures, [], 'no client saw an error')

  // Every body arrived byte-identical at a healthy server (the replays included).
  const arrived = new Map<string, string>()
  for (const s of [...skype, ...exchange]) {
    if (s.mode !== 'normal') continue
    for (const r of s.traffic) arrived.set(String(r.headers['x-test-id']), r.bodySha256)
  }
  for (const [id, hash] of sent) assert.equal(arrived.get(id), hash, `${id} arrived intact`)

  // Once out of rotation, the broken servers see (almost) nothing but probes.
  for (const broken of [brokenFe, brokenExch]) {
    assert.ok(broken.traffic.length <= 15, `${broken.name} got ${broken.traffic.length} real requests of 250`)
    assert.ok(broken.received.length > broken.traffic.length, `${broken.name} was probed`)
    const probe = broken.received.find(r => String(r.headers['user-agent']).startsWith('Portcullis-HealthCheck'))
    assert.equal(probe?.headers.host, 'mobile.example.com', 'probes carry the published Host (publicUrl)')
  }

  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  const feHost = new URL(brokenFe.url).host
  assert.match(metrics, new RegExp(`portcullis_upstream_server_up\\{upstream="skype",server="${feHost}"\\} 0`))
  assert.match(metrics, /portcullis_upstream_retries_total\{upstream="skype",reason="http_503"\} [1-9]/)
  assert.match(metrics, new RegExp(`portcullis_upstream_requests_total\\{upstream="skype",server="${feHost}",status_class="5xx",outcome="server_error"\\} [1-9]`))

  const api = await send(`${gateway.adminUrl}/api/upstreams`, { headers: { authorization: `Bearer ${process.env.PORTCULLIS_TEST_ADMIN_TOKEN}` } })
  const skypePool = (JSON.parse(api.body.toString()) as { upstreams: Array<{ name: string, servers: Array<{ name: string, up: boolean, state: string, lastFailure: { reason: string, detail: string } | null }> }> }).upstreams.find(u => u.name === 'skype')
  const feState = skypePool?.servers.find(s => s.name === feHost)
  assert.equal(feState?.up, false)
  assert.ok(feState?.lastFailure?.detail.includes('503'), JSON.stringify(feState))
  assert.equal(skypePool?.servers.filter(s => s.up).length, 2)

  assert.ok(logs.find('failing over to another server').some(l => l.from === feHost && l.reason === 'http_503'), 'a warn line per failover names the server and reason')
  assert.ok(logs.lines.some(l => l.level === 40 && l.server === feHost && /ejected|out of rotation/.test(String(l.msg))), 'a warn line when it leaves rotation')

  // Recovery: the front end answers 401 again and is back in rotation within a few probe intervals.
  brokenFe.mode = 'normal'
  const before = brokenFe.traffic.length
  await waitFor(async () => {
    await send(`${gateway.url}/ucwa/oauth/v1/applications`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer cwt=AAEB', 'content-type': 'application/json' }, dispatcher: agent })
    return brokenFe.traffic.length > before ? true : undefined
  }, 10_000, 'the recovered front end to get traffic again')
})

test('an Exchange throttling 503 (X-MS-ASThrottle) reaches the client unchanged and ejects nothing', async t => {
  const { SimServer } = await import('../../gateway/lab/sim-server.js')
  let hits = 0
  const throttling = new SimServer('throttle', (_req, res) => {
    hits++
    res.writeHead(503, { 'x-ms-asthrottle': 'CommandFrequency', 'retry-after': '300', 'content-type': 'text/html', 'content-length': 9 })
    res.end('throttled')
  })
  const other = fakeExchange('other')
  await Promise.all([throttling.listen(), other.listen()])
  closeAfter(t, throttling, other)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [throttling.url, other.url] } }, services: { activesync: { upstream: 'exchange' } } })
  for (let i = 0; i < 6; i++) {
    const res = await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=D&DeviceType=T`, { method: 'POST', body: 'x', headers: { authorization: 'Basic YTpi' } })
    if (res.status === 503) {
      assert.equal(res.headers['x-ms-asthrottle'], 'CommandFrequency')
      assert.equal(res.headers['retry-after'], '300')
      assert.equal(res.body.toString(), 'throttled')
    }
  }
  assert.equal(hits, 3, 'least-outstanding with round-robin ties: half the requests went there, none was replayed')
  const snapshot = gateway.pools.get('exchange')?.snapshot()
  assert.ok(snapshot?.servers.every(s => s.up && s.ejections === 0 && s.consecutiveFailures === 0))
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.doesNotMatch(metrics, /portcullis_upstream_ejections_total\{/)
  assert.doesNotMatch(metrics, /portcullis_upstream_retries_total\{/)
})

test('EWS ErrorServerBusy (HTTP 500 with BackOffMilliseconds) passes through and ejects nothing', async t => {
  const { SimServer } = await import('../../gateway/lab/sim-server.js')
  const fault = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode><t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">178510</t:Value></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>'
  const busy = new SimServer('busy', (_req, res) => { res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(fault) }); res.end(fault) })
  await busy.listen()
  closeAfter(t, busy)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [busy.url] } }, services: { ews: { upstream: 'exchange' } } })
  for (let i = 0; i < 5; i++) {
    const res = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>' })
    assert.equal(res.status, 500)
    assert.equal(res.body.toString(), fault)
  }
  assert.equal(busy.received.length, 5)
  assert.ok(gateway.pools.get('exchange')?.snapshot().servers.every(s => s.up && s.ejections === 0))
})
