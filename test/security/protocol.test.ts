// Regression tests for the Exchange attack paths and protocol integrity findings of the security review
// (issue 10, items 12, 24, 26, 27, 28, 29, 34).
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { test, type TestContext } from 'node:test'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { portOf, rawExchange, send } from '../helpers/http.js'
import { exchangeAndSkype } from '../helpers/topology.js'

const BASIC = 'Basic ' + Buffer.from('CORP\\alice:Alice-Pa55').toString('base64')

test('ProxyShell and ProxyNotShell URL shapes are refused at the edge; ordinary Autodiscover passes', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  const attacks = [
    '/autodiscover/autodiscover.json?@evil.corp/PowerShell/?X-Rps-CAT=VgEAVAdXaW5kb3dz&Email=autodiscover/autodiscover.json%3F@evil.corp',
    '/autodiscover/autodiscover.json?@evil.corp/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.corp',
    '/autodiscover/autodiscover.json?@evil.corp/owa/?&Email=autodiscover/autodiscover.json%3F@evil.corp&Protocol=XYZ&FooProtocol=Powershell',
    '/autodiscover/autodiscover.json?a=a@evil.corp/ews/exchange.asmx',
    '/autodiscover/autodiscover.xml?@evil.corp/PowerShell/',
    '/autodiscover/autodiscover.json?Email=a@b.example&Protocol=Powershell',
    '/autodiscover/autodiscover.json?Email=a@b.example&FooProtocol=Powershell',
    '/autodiscover/autodiscover.json/v1.0/a@b.example/rps?Protocol=ActiveSync',
    '/autodiscover/autodiscover.json?Email=autodiscover/autodiscover.json%3F@evil.corp',
    '/autodiscover/autodiscover.json?%2540evil.corp%252Fpowershell',
    '/autodiscover/autodiscover.json?Email=a@b.example&Email=c@d.example'
  ]
  for (const path of attacks) {
    const res = await send(`${gateway.url}${path}`, { headers: { authorization: BASIC } })
    assert.equal(res.status, 400, path)
  }
  assert.equal(exchange.traffic.length, 0, 'nothing reached Exchange')
  for (const path of ['/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=ActiveSync', '/autodiscover/autodiscover.json?Email=alice@example.com&Protocol=EWS&RedirectCount=1', '/autodiscover/autodiscover.xml']) {
    assert.equal((await send(`${gateway.url}${path}`, { method: path.endsWith('.xml') ? 'POST' : 'GET', body: path.endsWith('.xml') ? '<Autodiscover/>' : null, headers: { authorization: BASIC } })).status, 200, path)
  }
})

/** An upstream that answers every request with `raw` bytes, as a broken or hostile server might. */
async function rawUpstream (t: TestContext, answer: (socket: Socket) => void): Promise<string> {
  const server = createServer(socket => {
    socket.once('data', () => answer(socket))
    socket.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const sockets = new Set<Socket>()
  server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  t.after(() => new Promise<void>(resolve => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

async function gatewayTo (t: TestContext, origin: string, timeouts: Record<string, number> = {}): Promise<Awaited<ReturnType<typeof startTestGateway>>> {
  return startTestGateway(t, {
    upstreams: { exchange: { servers: [origin], retry: { maxAttempts: 1 } } },
    services: { activesync: { upstream: 'exchange' }, ews: { upstream: 'exchange' } },
    timeouts
  })
}

test('an upstream answer with both Transfer-Encoding and Content-Length is refused (502), never forwarded', async t => {
  const smuggled = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected'
  const origin = await rawUpstream(t, socket => socket.end(smuggled))
  const { gateway } = await gatewayTo(t, origin)
  const answer = await rawExchange(portOf(gateway.url), `POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: m\r\nAuthorization: ${BASIC}\r\nContent-Length: 3\r\n\r\n<x/>`.replace('<x/>', '<x>'), 3000)
  assert.match(answer, /^HTTP\/1\.1 502 /)
  assert.ok(!answer.includes('injected'), 'no smuggled answer reached the client')
})

test('timeouts.headersMs is a deadline: an upstream dripping 100 Continue cannot hold a request', async t => {
  const drips: NodeJS.Timeout[] = []
  t.after(() => { for (const d of drips) clearInterval(d) })
  const origin = await rawUpstream(t, socket => {
    drips.push(setInterval(() => { if (!socket.destroyed) socket.write('HTTP/1.1 100 Continue\r\n\r\n') }, 100))
  })
  const { gateway } = await gatewayTo(t, origin, { headersMs: 800 })
  const res = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>', headers: { authorization: BASIC } })
  assert.equal(res.status, 504, 'the request ends at the deadline although bytes kept coming')
})

test('pipelined requests are handled in order, and a malformed one is answered after the ones before it', async t => {
  const order: string[] = []
  const origin = new SimServer('exch', (_req, res, body) => {
    order.push(body.toString())
    // The first request is slow: if the second were handled concurrently it would overtake it.
    setTimeout(() => { res.writeHead(200, { 'content-length': 2 }); res.end('ok') }, body.toString() === 'first' ? 300 : 0)
  })
  await origin.listen()
  closeAfter(t, origin)
  const { gateway } = await gatewayTo(t, origin.url)
  const post = (body: string): string => `POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: m\r\nAuthorization: ${BASIC}\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  const answer = await rawExchange(portOf(gateway.url), post('first') + post('second') + 'GARBAGE\r\n\r\n', 3000)
  assert.deepEqual(order, ['first', 'second'], 'the upstream saw them in order')
  const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map(m => m[1])
  assert.deepEqual(statuses, ['200', '200', '400'], 'answers in order, the 400 last')
})

test('a 451 redirect is always rewritten to publicUrl\'s origin with a single-slash path', async t => {
  const origin = new SimServer('exch', (_req, res) => {
    res.writeHead(451, { 'x-ms-location': 'https://mail.corp.example//evil.example/Microsoft-Server-ActiveSync', 'content-length': 0 })
    res.end()
  })
  await origin.listen()
  closeAfter(t, origin)
  const { gateway } = await gatewayTo(t, origin.url)
  const res = await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=a&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: BASIC } })
  assert.equal(res.status, 451)
  assert.equal(res.headers['x-ms-location'], 'https://mobile.example.com/evil.example/Microsoft-Server-ActiveSync')
})

test('the admin API: Bearer required, a dribbled body without a token gets 401 and the connection is closed', async t => {
  process.env.PORTCULLIS_SEC_ADMIN = 'the-admin-token'
  const { gateway } = await exchangeAndSkype(t, { admin: { tokenEnv: 'PORTCULLIS_SEC_ADMIN' } })
  assert.equal((await send(`${gateway.adminUrl}/api/upstreams`, { headers: { authorization: 'the-admin-token' } })).status, 401, 'the token without its scheme')
  assert.equal((await send(`${gateway.adminUrl}/api/upstreams`, { headers: { authorization: 'Bearer the-admin-token-and-more' } })).status, 401)
  assert.equal((await send(`${gateway.adminUrl}/api/upstreams`, { headers: { authorization: 'Bearer the-admin-token' } })).status, 200)
  // A body that never ends, sent without a token: answered 401 at once, and the server closes the connection.
  const answer = await rawExchange(portOf(gateway.adminUrl), 'POST /api/policies/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nxxx', 5000)
  assert.match(answer, /^HTTP\/1\.1 401 /)
  assert.match(answer, /connection: close/i)
})
