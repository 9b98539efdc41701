import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { portOf, rawExchange, send } from '../helpers/http.js'
import { exchangeAndSkype } from '../helpers/topology.js'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'

const BASIC = 'Basic ' + Buffer.from('alice:secret').toString('base64')
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

test('each service reaches its own upstream with the body byte-identical', async t => {
  const { gateway, exchange, skype } = await exchangeAndSkype(t)
  const cases = [
    { path: '/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=D1&DeviceType=iPhone', to: exchange, status: 200 },
    { path: '/EWS/Exchange.asmx', to: exchange, status: 200 },
    { path: '/autodiscover/autodiscover.xml', to: exchange, status: 200 },
    { path: '/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=ActiveSync', to: exchange, status: 200 },
    { path: '/ucwa/oauth/v1/applications', to: skype, status: 201 },
    { path: '/WebTicket/oauthtoken', to: skype, status: 200 },
    { path: '/Autodiscover/AutodiscoverService.svc/root/oauth/user', to: skype, status: 200 }
  ]
  for (const c of cases) {
    const body = c.to === skype ? Buffer.from(JSON.stringify({ UserAgent: 'test', EndpointId: randomBytes(1500).toString('hex') })) : randomBytes(3000)
    const before = c.to.received.length
    const auth = c.to === skype ? 'Bearer cwt=abc' : BASIC
    const res = await send(gateway.url + c.path, { method: 'POST', body, headers: { authorization: auth, 'content-type': c.to === skype ? 'application/json' : 'application/octet-stream' } })
    assert.equal(res.status, c.status, c.path)
    const seen = c.to.received[before]
    assert.ok(seen, `${c.path} reached ${c.to.name}`)
    assert.equal(seen.url, c.path)
    assert.equal(seen.bodySha256, sha(body), `${c.path} body intact`)
  }
  assert.equal(exchange.received.length + skype.received.length, cases.length)
})

test('a 20 MB attachment passes byte-identical both ways', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  const body = randomBytes(20 * 1024 * 1024)
  const res = await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=SendMail&User=alice&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body, headers: { authorization: BASIC, 'content-type': 'message/rfc822' } })
  assert.equal(res.status, 200)
  assert.equal(exchange.received.at(-1)?.bodySha256, sha(body))
  assert.equal(exchange.received.at(-1)?.bodyLength, body.length)
})

test('a 20 MB response streams back byte-identical', async t => {
  const big = randomBytes(20 * 1024 * 1024)
  const { SimServer } = await import('../../gateway/lab/sim-server.js')
  const origin = new SimServer('big', (_req, res) => { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(big) })
  await origin.listen()
  closeAfter(t, origin)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [origin.url] } }, services: { activesync: { upstream: 'exchange' } } })
  const res = await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=ItemOperations&User=a&DeviceId=D&DeviceType=T`, { method: 'POST', body: 'x' })
  assert.equal(res.status, 200)
  assert.equal(sha(res.body), sha(big))
})

test('letter case, percent-encoding, dot segments and duplicate slashes route to the same service', async t => {
  const { gateway, exchange, skype } = await exchangeAndSkype(t)
  const variants = ['/ews/exchange.asmx', '/EWS/Exchange.asmx', '//EWS//Exchange.asmx', '/%45WS/Exchange.asmx', '/ucwa/../EWS/Exchange.asmx', '/./EWS/./Exchange.asmx', '/EWS\\Exchange.asmx']
  for (const path of variants) {
    const before = exchange.received.length
    const res = await send(gateway.url + path, { method: 'POST', body: '<x/>', headers: { authorization: BASIC, 'content-type': 'text/xml' } })
    assert.equal(res.status, 200, path)
    assert.equal(exchange.received.length, before + 1, `${path} reached Exchange`)
    assert.match(exchange.received.at(-1)?.url ?? '', /^\/(ews|EWS)\/(exchange|Exchange)\.asmx$/, `${path} forwarded in canonical form`)
  }
  // A dot segment cannot climb from a published path into an unpublished one
  const res = await send(`${gateway.url}/EWS/../owa/`, { method: 'GET' })
  assert.equal(res.status, 404)
  assert.equal(skype.received.length, 0)
})

test('unpublished paths answer 404 and reach nobody', async t => {
  const exchange = fakeExchange('only-as')
  await exchange.listen()
  closeAfter(t, exchange)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [exchange.url] } }, services: { activesync: { upstream: 'exchange' } } })
  for (const path of ['/owa/', '/ecp/', '/EWS/Exchange.asmx', '/ucwa/v1/applications', '/', '/Microsoft-Server-ActiveSyncX', '/%ZZ']) {
    const res = await send(gateway.url + path, { method: 'GET' })
    assert.ok(res.status === 404 || res.status === 400, `${path} → ${res.status}`)
  }
  assert.equal(exchange.received.length, 0)
})

test('methods a service does not use are refused with 405', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  const res = await send(`${gateway.url}/Microsoft-Server-ActiveSync`, { method: 'DELETE' })
  assert.equal(res.status, 405)
  assert.equal(res.headers.allow, 'POST, OPTIONS')
  assert.equal(exchange.received.length, 0)
})

test('absolute-form targets and CONNECT never reach any host', async t => {
  const { gateway, exchange, skype } = await exchangeAndSkype(t)
  const port = portOf(gateway.url)
  const absolute = await rawExchange(port, `GET http://${new URL(exchange.url).host}/EWS/Exchange.asmx HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`)
  assert.match(absolute, /^HTTP\/1\.1 400 /)
  const connect = await rawExchange(port, `CONNECT ${new URL(exchange.url).host} HTTP/1.1\r\nHost: ${new URL(exchange.url).host}\r\n\r\n`)
  assert.match(connect, /^HTTP\/1\.1 405 /)
  assert.equal(exchange.received.length + skype.received.length, 0)
  const alive = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>', headers: { authorization: BASIC } })
  assert.equal(alive.status, 200)
})

test('lyncdiscover hosts route / to the Skype pool', async t => {
  const { gateway, skype, exchange } = await exchangeAndSkype(t)
  const res = await send(`${gateway.url}/`, { headers: { host: 'lyncdiscover.example.com', accept: 'application/json' } })
  assert.equal(res.status, 200)
  assert.equal(skype.received.at(-1)?.headers.host, 'lyncdiscover.example.com')
  const other = await send(`${gateway.url}/`, { headers: { host: 'mail.example.com' } })
  assert.equal(other.status, 404)
  assert.equal(exchange.received.length, 0)
})
