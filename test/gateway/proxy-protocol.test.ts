import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { parseProxyHeader } from '../../gateway/net/proxy-protocol.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { portOf, rawExchange } from '../helpers/http.js'

const REQUEST = 'GET /EWS/Exchange.asmx HTTP/1.1\r\nHost: mobile.example.com\r\nConnection: close\r\n\r\n'

/** A gateway publishing EWS with the PROXY protocol on, trusting `trustedProxies`. */
async function proxiedGateway (t: TestContext, trustedProxies: string[]): Promise<Awaited<ReturnType<typeof startTestGateway>> & { exchange: ReturnType<typeof fakeExchange> }> {
  const exchange = fakeExchange('exch')
  await exchange.listen()
  closeAfter(t, exchange)
  const started = await startTestGateway(t, {
    listen: { host: '127.0.0.1', port: 0, proxyProtocol: true, trustedProxies },
    upstreams: { exchange: { servers: [exchange.url] } },
    services: { ews: { upstream: 'exchange' } }
  })
  return { ...started, exchange }
}

function v2 (source: number[], command = 0x21): Buffer {
  const head = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, command, 0x11, 0x00, 0x0c])
  return Buffer.concat([head, Buffer.from([...source, 10, 0, 0, 1]), Buffer.from([0xc3, 0x50, 0x01, 0xbb])])
}

test('the PROXY protocol parser takes v1 and v2 exactly, and refuses what is not one', () => {
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.9 10.0.0.1 50000 443\r\nGET')), { kind: 'header', address: '203.0.113.9', length: 43 })
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::9 2001:db8::1 50000 443\r\n')), { kind: 'header', address: '2001:db8::9', length: 46 })
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', address: undefined, length: 15 })
  assert.deepEqual(parseProxyHeader(v2([198, 51, 100, 7])), { kind: 'header', address: '198.51.100.7', length: 28 })
  assert.deepEqual(parseProxyHeader(v2([198, 51, 100, 7], 0x20)), { kind: 'header', address: undefined, length: 28 }, 'LOCAL: the proxy\'s own connection')
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 203.0')).kind, 'incomplete')
  assert.equal(parseProxyHeader(v2([1, 2, 3, 4]).subarray(0, 20)).kind, 'incomplete')
  for (const bad of ['PROXY TCP4 203.0.113.9 10.0.0.1 50000\r\n', 'PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 070000 1\r\n', 'GET / HTTP/1.1\r\n', `PROXY TCP4 ${'1'.repeat(120)}`]) {
    assert.equal(parseProxyHeader(Buffer.from(bad)).kind, 'invalid', bad)
  }
})

test('listen.proxyProtocol: a trusted proxy\'s header names the client (logs, policies, X-Forwarded-For upstream); nobody else can send one', { timeout: 30_000 }, async t => {
  const { exchange, gateway, logs } = await proxiedGateway(t, ['127.0.0.1/32'])
  const port = portOf(gateway.url)
  const v1 = await rawExchange(port, 'PROXY TCP4 203.0.113.9 10.0.0.1 50000 443\r\n' + REQUEST)
  assert.match(v1, /^HTTP\/1\.1 401/)
  const viaV2 = await rawExchange(port, Buffer.concat([v2([198, 51, 100, 7]), Buffer.from(REQUEST)]))
  assert.match(viaV2, /^HTTP\/1\.1 401/)
  const clients = logs.find('request').map(l => l.client)
  assert.deepEqual(clients, ['203.0.113.9', '198.51.100.7'])
  assert.equal(exchange.received.at(-2)?.headers['x-forwarded-for'], '203.0.113.9')
  assert.equal(exchange.received.at(-1)?.headers['x-forwarded-for'], '198.51.100.7')
  // A trusted peer that sends no header is closed without an answer.
  assert.equal(await rawExchange(port, REQUEST), '')
  assert.ok(logs.find('PROXY protocol header refused: connection closed').length >= 1)
})

test('listen.proxyProtocol: a peer that is not a trusted proxy cannot choose its address with a header', { timeout: 30_000 }, async t => {
  const { gateway, logs } = await proxiedGateway(t, ['192.0.2.0/24'])
  const answer = await rawExchange(portOf(gateway.url), 'PROXY TCP4 203.0.113.9 10.0.0.1 50000 443\r\n' + REQUEST)
  assert.match(answer, /^HTTP\/1\.1 400/)
  assert.match(await rawExchange(portOf(gateway.url), REQUEST), /^HTTP\/1\.1 401/, 'a plain request from it is served')
  assert.deepEqual(logs.find('request').map(l => l.client), ['127.0.0.1'])
})
