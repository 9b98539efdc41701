import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { client, send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'

const EWS = '/EWS/Exchange.asmx'
const AUTODISCOVER = '/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=ActiveSync'

/** A pool whose first server misbehaves as `mode` and whose second is a healthy Exchange. */
async function badThenGood (t: Parameters<typeof closeAfter>[0], mode: SimServer['mode'], extra: Record<string, unknown> = {}): Promise<{ bad: SimServer, good: SimServer, url: string, logs: Awaited<ReturnType<typeof startTestGateway>>['logs'] }> {
  const bad = fakeExchange('bad')
  bad.mode = mode
  const good = fakeExchange('good')
  await Promise.all([bad.listen(), good.listen()])
  closeAfter(t, bad, good)
  const { gateway, logs } = await startTestGateway(t, {
    upstreams: { exchange: { servers: [bad.url, good.url], ...extra } },
    services: { ews: { upstream: 'exchange' }, autodiscover: { upstream: 'exchange' } },
    timeouts: { headersMs: 300 }
  })
  return { bad, good, url: gateway.url, logs }
}

test('a server that resets connections: idempotent requests move on, a POST it may have processed gets 502', async t => {
  const { bad, good, url } = await badThenGood(t, 'reset')
  const get = await send(url + AUTODISCOVER, { headers: { authorization: 'Basic YTpi' } })
  assert.equal(get.status, 200, 'GET replayed on the good server')
  assert.equal(bad.received.length, 1)
  assert.equal(good.received.length, 1)
  assert.ok(await postUntilItHits(bad, good, url, 502), 'a POST reached the resetting server and got 502, not a replay')
})

/**
 * Sends POSTs until one lands on `bad` (the balancer decides where) and checks that exactly that one
 * got `status` without being replayed on `good`. Returns whether one landed there.
 */
async function postUntilItHits (bad: SimServer, good: SimServer, url: string, status: number, dispatcher?: ReturnType<typeof client>): Promise<boolean> {
  for (let i = 0; i < 6; i++) {
    const [badBefore, goodBefore] = [bad.received.length, good.received.length]
    const res = await send(url + EWS, { method: 'POST', body: '<x/>', headers: { authorization: 'Basic YTpi' }, ...(dispatcher ? { dispatcher } : {}) })
    if (bad.received.length > badBefore) {
      assert.equal(res.status, status)
      assert.equal(good.received.length, goodBefore, 'not replayed on the other server')
      return true
    }
    assert.equal(res.status, 200)
  }
  return false
}

test('a server that never answers: idempotent requests move on after the header timeout, POSTs get 504', async t => {
  const { bad, good, url } = await badThenGood(t, 'hang', { retry: { maxAttempts: 2 } })
  const get = await send(url + AUTODISCOVER, { headers: { authorization: 'Basic YTpi' } })
  assert.equal(get.status, 200)
  assert.equal(bad.received.length, 1)
  assert.equal(good.received.length, 1)
  const agent = client()
  t.after(() => agent.destroy())
  assert.ok(await postUntilItHits(bad, good, url, 504, agent), 'a POST reached the silent server and got 504, not a replay')
})

test('a server that refuses connections: every request, POST included, is served by the other', async t => {
  const closedPort = await freePort()
  const good = fakeExchange('good')
  await good.listen()
  closeAfter(t, good)
  const { gateway, logs } = await startTestGateway(t, { upstreams: { exchange: { servers: [`http://127.0.0.1:${closedPort}`, good.url] } }, services: { ews: { upstream: 'exchange' } } })
  for (let i = 0; i < 8; i++) {
    const res = await send(gateway.url + EWS, { method: 'POST', body: `<x n="${i}"/>`, headers: { authorization: 'Basic YTpi' } })
    assert.equal(res.status, 200)
  }
  assert.equal(good.received.length, 8)
  assert.ok(logs.find('server ejected').some(l => l.reason === 'connect'), 'refusals eject the server')
})

test('every server broken: 503 with Retry-After, promptly, after trying each once', async t => {
  const servers = [fakeExchange('a'), fakeExchange('b'), fakeExchange('c')]
  for (const s of servers) s.mode = 'iis-503'
  await Promise.all(servers.map(s => s.listen()))
  closeAfter(t, ...servers)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: servers.map(s => s.url) } }, services: { ews: { upstream: 'exchange' } } })
  const res = await send(gateway.url + EWS, { method: 'POST', body: '<x/>' })
  assert.equal(res.status, 503)
  assert.match(String(res.headers['retry-after']), /^\d+$/)
  assert.deepEqual(servers.map(s => s.received.length), [1, 1, 1])
})

test('panic mode: with every server ejected, requests are still tried, and a recovered one serves', async t => {
  const servers = [fakeExchange('a'), fakeExchange('b'), fakeExchange('c')]
  for (const s of servers) s.mode = 'iis-503'
  await Promise.all(servers.map(s => s.listen()))
  closeAfter(t, ...servers)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: servers.map(s => s.url), ejection: { maxPercent: 100 } } }, services: { ews: { upstream: 'exchange' } } })
  for (let i = 0; i < 6; i++) await send(gateway.url + EWS, { method: 'POST', body: '<x/>' })
  assert.equal(gateway.pools.get('exchange')?.snapshot().panic, true)
  const before = servers.map(s => s.received.length)
  servers[1]!.mode = 'normal'
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await send(gateway.url + EWS, { method: 'POST', body: '<x/>', headers: { authorization: 'Basic YTpi' } })).status)
  assert.ok(servers.every((s, i) => s.received.length > before[i]!), `every ejected server still got requests: ${before.join()} → ${servers.map(s => s.received.length).join()}`)
  assert.ok(statuses.includes(200), statuses.join())
})

test('the ejection limit: by default a pool of three can lose two servers, never the last', async t => {
  const servers = [fakeExchange('a'), fakeExchange('b'), fakeExchange('c')]
  for (const s of servers) s.mode = 'iis-503'
  await Promise.all(servers.map(s => s.listen()))
  closeAfter(t, ...servers)
  const { gateway, logs } = await startTestGateway(t, { upstreams: { exchange: { servers: servers.map(s => s.url) } }, services: { ews: { upstream: 'exchange' } } })
  for (let i = 0; i < 6; i++) await send(gateway.url + EWS, { method: 'POST', body: '<x/>' })
  const states = gateway.pools.get('exchange')?.snapshot().servers.map(s => s.state).sort()
  assert.deepEqual(states, ['ejected', 'ejected', 'healthy'])
  assert.ok(logs.find('server failing but not ejected: ejection limit reached').length > 0)
})

test('a 2 MB body meeting a 503 is not replayed: the client gets that 503 (documented)', async t => {
  const { bad, good, url } = await badThenGood(t, 'iis-503')
  const res = await send(url + EWS, { method: 'POST', body: randomBytes(2 * 1024 * 1024), headers: { authorization: 'Basic YTpi' } })
  assert.equal(res.status, 503)
  assert.equal(res.headers.server, 'Microsoft-HTTPAPI/2.0')
  assert.equal(bad.received.length, 1)
  assert.equal(good.received.length, 0)
  const small = await send(url + EWS, { method: 'POST', body: randomBytes(512 * 1024), headers: { authorization: 'Basic YTpi' } })
  assert.equal(small.status, 200, 'a body under the buffer limit is replayed')
})

test('the retry budget keeps retries from multiplying an outage', async t => {
  const servers = [fakeExchange('a'), fakeExchange('b'), fakeExchange('c')]
  for (const s of servers) s.mode = 'iis-503'
  await Promise.all(servers.map(s => s.listen()))
  closeAfter(t, ...servers)
  const { gateway, logs } = await startTestGateway(t, { upstreams: { exchange: { servers: servers.map(s => s.url), retry: { baseBackoffMs: 50, maxBackoffMs: 100 } } }, services: { ews: { upstream: 'exchange' } } })
  const agent = client()
  t.after(() => agent.destroy())
  const burst = 100
  const results = await Promise.all(Array.from({ length: burst }, () => send(gateway.url + EWS, { method: 'POST', body: '<x/>', dispatcher: agent })))
  assert.ok(results.every(r => r.status === 503))
  const attempts = servers.reduce((n, s) => n + s.received.length, 0)
  assert.ok(attempts < burst * 1.6, `${attempts} upstream attempts for ${burst} requests (without a budget: ${burst * 3})`)
  assert.ok(logs.find('retry budget exhausted: not replaying').length > 0)
})

test('Retry-After on a server-level 503 keeps that server out of first attempts (capped)', async t => {
  let hits = 0
  const busy = new SimServer('busy', (_req, res) => { hits++; res.writeHead(503, { 'retry-after': '120', 'content-length': 0 }); res.end() })
  const good = fakeExchange('good')
  await Promise.all([busy.listen(), good.listen()])
  closeAfter(t, busy, good)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [busy.url, good.url], ejection: { consecutiveFailures: 100 } } }, services: { ews: { upstream: 'exchange' } } })
  for (let i = 0; i < 10; i++) {
    const res = await send(gateway.url + EWS, { method: 'POST', body: '<x/>', headers: { authorization: 'Basic YTpi' } })
    assert.equal(res.status, 200)
  }
  assert.equal(hits, 1, 'asked to wait 120 s, the server was left alone')
  assert.equal(gateway.pools.get('exchange')?.snapshot().servers[0]?.state, 'held')
})

test('repeated ejections last longer, up to the cap', { timeout: 30_000 }, async t => {
  const { bad, url, logs } = await badThenGood(t, 'iis-503', { ejection: { consecutiveFailures: 1, baseMs: 150, maxMs: 400 } })
  const durations: number[] = []
  while (durations.length < 3) {
    await send(url + EWS, { method: 'POST', body: '<x/>', headers: { authorization: 'Basic YTpi' } })
    const ejected = logs.find('server ejected').map(l => Number(l.ejectedForMs))
    if (ejected.length > durations.length) durations.push(ejected[ejected.length - 1] as number)
    else await new Promise(resolve => setTimeout(resolve, 50)) // wait for the ejection to run out
  }
  // base × n with ±10 % jitter, capped: ~150, ~300, then 400 (not 450)
  assert.ok(durations[0]! >= 135 && durations[0]! <= 165, durations.join())
  assert.ok(durations[1]! >= 270 && durations[1]! <= 330, durations.join())
  assert.ok(durations[2]! >= 360 && durations[2]! <= 440, durations.join())
  assert.ok(bad.received.length >= 3)
})
