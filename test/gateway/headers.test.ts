import assert from 'node:assert/strict'
import { test } from 'node:test'
import { request as httpRequest } from 'node:http'
import { Agent } from 'undici'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { portOf, rawExchange, send } from '../helpers/http.js'
import { exchangeAndSkype } from '../helpers/topology.js'

const BASIC = 'Basic ' + Buffer.from('alice:secret').toString('base64')
const EWS = '/EWS/Exchange.asmx'

test('Host is forwarded, X-Forwarded-For/-Proto are set, a client X-Forwarded-For is not trusted', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  await send(gateway.url + EWS, { method: 'POST', body: '<x/>', headers: { host: 'mail.example.com', authorization: BASIC, 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'gopher' } })
  const seen = exchange.received.at(-1)?.headers
  assert.equal(seen?.host, 'mail.example.com')
  assert.equal(seen?.['x-forwarded-for'], '127.0.0.1')
  assert.equal(seen?.['x-forwarded-proto'], 'http')
})

test('X-Forwarded-For from a trusted proxy is kept and appended to', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t, { listen: { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.0/8'] } })
  await send(gateway.url + EWS, { method: 'POST', body: '<x/>', headers: { authorization: BASIC, 'x-forwarded-for': '203.0.113.9' } })
  assert.equal(exchange.received.at(-1)?.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1')
})

test('hop-by-hop headers, headers named by Connection and Proxy-Authorization are dropped both ways', async t => {
  const origin = new SimServer('hop', (_req, res) => {
    res.writeHead(200, { 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', connection: 'x-internal', 'x-internal': 'secret', 'x-kept': '1', 'content-length': 2 })
    res.end('ok')
  })
  await origin.listen()
  closeAfter(t, origin)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [origin.url] } }, services: { ews: { upstream: 'exchange' } } })
  const raw = await rawExchange(portOf(gateway.url), `POST ${EWS} HTTP/1.1\r\nHost: mail\r\nConnection: x-private, keep-alive\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nTE: trailers\r\nUpgrade: h2c\r\nContent-Length: 4\r\n\r\n<x/>`, 1500)
  const seen = origin.received.at(-1)?.headers ?? {}
  for (const name of ['x-private', 'keep-alive', 'proxy-authorization', 'te', 'upgrade']) assert.equal(seen[name], undefined, `${name} not forwarded`)
  assert.match(raw, /^HTTP\/1\.1 200/)
  assert.match(raw, /x-kept: 1/i)
  assert.doesNotMatch(raw, /proxy-authenticate|x-internal/i)
})

test('Expect: 100-continue gets its 100 and the body arrives', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  const body = Buffer.alloc(50_000, 7)
  const result = await new Promise<{ gotContinue: boolean, status: number }>((resolve, reject) => {
    let gotContinue = false
    const req = httpRequest(gateway.url + EWS, { method: 'POST', headers: { expect: '100-continue', 'content-length': body.length, authorization: BASIC, 'content-type': 'text/xml' } })
    req.on('continue', () => { gotContinue = true; req.end(body) })
    req.on('response', res => { res.resume(); res.on('end', () => resolve({ gotContinue, status: res.statusCode ?? 0 })) })
    req.on('error', reject)
  })
  assert.deepEqual(result, { gotContinue: true, status: 200 })
  assert.equal(exchange.received.at(-1)?.bodyLength, body.length)
  assert.equal(exchange.received.at(-1)?.headers.expect, undefined)
})

test('NTLM: each client connection keeps its own upstream connection', async t => {
  // The origin answers with the port of the upstream connection it sees, as NTLM state lives on it.
  const origin = new SimServer('ntlm', (req, res) => {
    const body = String(req.socket.remotePort)
    res.writeHead(req.headers.authorization?.startsWith('NTLM TlRMTVNTUAAD') ? 200 : 401, { 'www-authenticate': 'NTLM TlRMTVNTUAACAAAA', 'content-length': body.length })
    res.end(body)
  })
  await origin.listen()
  closeAfter(t, origin)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [origin.url] } }, services: { ews: { upstream: 'exchange' } } })
  const handshake = async (): Promise<string[]> => {
    const agent = new Agent({ connections: 1 }) // one client connection
    t.after(() => agent.close())
    const ports: string[] = []
    for (const auth of ['NTLM TlRMTVNTUAABAAAA', 'NTLM TlRMTVNTUAADAAAA', 'NTLM TlRMTVNTUAADAAAA']) {
      const res = await send(gateway.url + EWS, { method: 'POST', body: '<x/>', headers: { authorization: auth }, dispatcher: agent })
      ports.push(res.body.toString())
    }
    return ports
  }
  const [a, b] = await Promise.all([handshake(), handshake()])
  assert.equal(new Set(a).size, 1, 'client A stayed on one upstream connection')
  assert.equal(new Set(b).size, 1, 'client B stayed on one upstream connection')
  assert.notEqual(a[0], b[0], 'the two clients never shared an upstream connection')
})
