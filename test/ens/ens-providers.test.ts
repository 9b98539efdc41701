import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { KeyRateLimit } from '../../ens/rate-limit.js'
import { ensUser, subscribeDevice } from '../helpers/ens.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'

const EMAIL = 'bob@example.com'
const PASSWORD = 'An0ther-Secret'

/** A fake Google: the OAuth2 token endpoint and FCM v1 messages:send, on one server. */
function fakeGoogle (): { server: SimServer, sends: Array<{ auth: string | undefined, body: { message: Record<string, unknown> } }>, tokenRequests: number, dead: Set<string>, maxBytes: number } {
  const state = { sends: [] as Array<{ auth: string | undefined, body: { message: Record<string, unknown> } }>, tokenRequests: 0, dead: new Set<string>(), maxBytes: 4096 }
  const server = new SimServer('google', (req, res, body) => {
    if (req.url === '/token') {
      state.tokenRequests++
      const assertion = new URLSearchParams(body.toString()).get('assertion') ?? ''
      const ok = assertion.split('.').length === 3
      res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' })
      res.end(JSON.stringify(ok ? { access_token: 'ya29.test-token', expires_in: 3600, token_type: 'Bearer' } : { error: 'invalid_grant' }))
      return
    }
    const parsed = JSON.parse(body.toString()) as { message: Record<string, unknown> }
    state.sends.push({ auth: req.headers.authorization, body: parsed })
    if (body.length > state.maxBytes) { // as FCM refuses a message over 4 KB
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT', details: [{ errorCode: 'INVALID_ARGUMENT' }] } }))
      return
    }
    if (state.dead.has(String(parsed.message.token))) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 404, status: 'NOT_FOUND', details: [{ errorCode: 'UNREGISTERED' }] } }))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ name: 'projects/demo/messages/1' }))
  })
  return Object.assign(state, { server })
}

async function setup (t: TestContext, ens: Record<string, unknown>): Promise<{ gateway: Awaited<ReturnType<typeof startTestGateway>>['gateway'], exchange: ReturnType<typeof fakeExchange> }> {
  const exchange = fakeExchange('exch')
  exchange.ews.users = { [EMAIL]: PASSWORD }
  await exchange.listen()
  closeAfter(t, exchange)
  const port = await freePort()
  const { gateway } = await startTestGateway(t, {
    listen: { host: '127.0.0.1', port },
    publicUrl: `http://127.0.0.1:${port}`,
    upstreams: { exchange: { servers: [exchange.url] } },
    services: {},
    ens: { enabled: true, ews: { upstream: 'exchange' }, ...ens }
  })
  return { gateway, exchange }
}

async function subscribe (url: string, device: Record<string, string>): Promise<number> {
  return (await subscribeDevice(url, ensUser(EMAIL, PASSWORD), device)).status
}

/** A gateway pushing to a fake FCM. */
async function fcmSetup (t: TestContext): Promise<Awaited<ReturnType<typeof setup>> & { google: ReturnType<typeof fakeGoogle> }> {
  const google = fakeGoogle()
  await google.server.listen()
  closeAfter(t, google.server)
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-fcm-'))
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const accountFile = join(dir, 'fcm.json')
  writeFileSync(accountFile, JSON.stringify({ type: 'service_account', project_id: 'demo', client_email: 'ens@demo.iam.gserviceaccount.com', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), token_uri: `${google.server.url}/token` }))
  return { google, ...await setup(t, { push: { fcm: { serviceAccountFile: accountFile, endpoint: google.server.url } } }) }
}

test('FCM HTTP v1: service account → OAuth2 token → messages:send; UNREGISTERED removes the device', { timeout: 60_000 }, async t => {
  const { google, gateway, exchange } = await fcmSetup(t)
  assert.equal(await subscribe(gateway.url, { id: 'pixel', platform: 'fcm', token: 'fcm-token-1' }), 201)
  const sub = exchange.ews.subscriptions.at(-1)!
  assert.match((await exchange.ews.deliverMail(sub, { subject: 'Lunch?', from: 'Carol', email: 'carol@example.com' })).body, /OK/)
  assert.equal(google.sends.length, 1)
  assert.equal(google.sends[0]?.auth, 'Bearer ya29.test-token')
  assert.deepEqual(google.sends[0]?.body.message.notification, { title: 'Carol', body: 'Lunch?' })
  assert.equal(google.sends[0]?.body.message.token, 'fcm-token-1')
  assert.match(google.server.received.find(r => r.url.includes('messages:send'))?.url ?? '', /\/v1\/projects\/demo\/messages:send$/)
  google.dead.add('fcm-token-1')
  assert.match((await exchange.ews.deliverMail(sub)).body, /Unsubscribe/, 'the token was unregistered: no device left')
  assert.equal(google.tokenRequests, 1, 'the access token is cached')
})

test('payload minimal sends neither subject nor sender, and makes no GetItem', { timeout: 60_000 }, async t => {
  const bodies: Array<Record<string, unknown>> = []
  const sink = new SimServer('sink', (_req, res, body) => { bodies.push(JSON.parse(body.toString()) as Record<string, unknown>); res.writeHead(200); res.end() })
  await sink.listen()
  closeAfter(t, sink)
  const { gateway, exchange } = await setup(t, { payload: 'minimal', push: { webhook: { url: sink.url } } })
  assert.equal(await subscribe(gateway.url, { id: 'd', platform: 'webhook', token: 'w' }), 201)
  await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!, { subject: 'Secret merger', from: 'CEO', email: 'ceo@example.com' })
  assert.equal(bodies.length, 1)
  assert.equal(bodies[0]?.subject, undefined)
  assert.equal(bodies[0]?.from, undefined)
  assert.ok(!JSON.stringify(bodies).includes('Secret merger'))
  assert.equal(exchange.ews.getItems.length, 0)
})

test('a failing push provider makes Exchange retry; the retry reaches only the device that missed it', { timeout: 60_000 }, async t => {
  let failing = true
  const received: string[] = []
  const sink = new SimServer('sink', (_req, res, body) => {
    const device = (JSON.parse(body.toString()) as { device: { id: string } }).device.id
    if (failing && device === 'flaky') {
      res.writeHead(502)
      res.end()
      return
    }
    received.push(device)
    res.writeHead(200)
    res.end()
  })
  await sink.listen()
  closeAfter(t, sink)
  const { gateway, exchange } = await setup(t, { push: { webhook: { url: sink.url } } })
  assert.equal(await subscribe(gateway.url, { id: 'steady', platform: 'webhook', token: 'a' }), 201)
  assert.equal(await subscribe(gateway.url, { id: 'flaky', platform: 'webhook', token: 'b' }), 201)
  const sub = exchange.ews.subscriptions.at(-1)!
  const first = await exchange.ews.deliverMail(sub)
  assert.equal(first.status, 503, 'not OK: Exchange will deliver again')
  assert.deepEqual(received, ['steady'])
  failing = false
  const retried = await exchange.ews.notify(sub, first.notification)
  assert.match(retried.body, /OK/)
  assert.deepEqual(received.sort(), ['flaky', 'steady'], 'the redelivery went to the device that missed it, once')
})

test('ResponseClass="Error" ends the subscription and asks the devices to subscribe again', { timeout: 60_000 }, async t => {
  const bodies: Array<Record<string, unknown>> = []
  const sink = new SimServer('sink', (_req, res, body) => { bodies.push(JSON.parse(body.toString()) as Record<string, unknown>); res.writeHead(200); res.end() })
  await sink.listen()
  closeAfter(t, sink)
  const { gateway, exchange } = await setup(t, { push: { webhook: { url: sink.url } } })
  assert.equal(await subscribe(gateway.url, { id: 'd', platform: 'webhook', token: 'w' }), 201)
  const sub = exchange.ews.subscriptions.at(-1)!
  const M = 'http://schemas.microsoft.com/exchange/services/2006/messages'
  const T = 'http://schemas.microsoft.com/exchange/services/2006/types'
  const xml = `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><SendNotification xmlns="${M}"><ResponseMessages><SendNotificationResponseMessage ResponseClass="Error"><MessageText>The events couldn't be read.</MessageText><ResponseCode>ErrorReadEventsFailed</ResponseCode><DescriptiveLinkKey>0</DescriptiveLinkKey><MessageXml><Value xmlns="${T}" Name="SubscriptionId">${sub.subscriptionId}</Value></MessageXml></SendNotificationResponseMessage></ResponseMessages></SendNotification></soap:Body></soap:Envelope>`
  const res = await send(sub.callbackUrl, { method: 'POST', body: xml, headers: { 'content-type': 'text/xml; charset=utf-8' } })
  assert.match(res.body.toString(), /Unsubscribe/)
  assert.deepEqual(bodies.map(b => b.kind), ['silent'])
  assert.match((await exchange.ews.heartbeat(sub)).body, /Unsubscribe/, 'the subscription is gone')
})

test('key creation is rate-limited per client address', () => {
  const limit = new KeyRateLimit(3, 60)
  const now = Date.now()
  assert.deepEqual([1, 2, 3, 4].map(() => limit.take('198.51.100.7', now)), [true, true, true, false])
  assert.equal(limit.take('203.0.113.1', now), true, 'another address has its own bucket')
  assert.equal(limit.take('198.51.100.7', now + 60_000), true, 'refilled at 60 an hour: one a minute')
})

test('push text is cut to the providers\' limits; a message FCM refuses as malformed keeps the device and is not redelivered', { timeout: 60_000 }, async t => {
  const { google, gateway, exchange } = await fcmSetup(t)
  assert.equal(await subscribe(gateway.url, { id: 'pixel', platform: 'fcm', token: 'fcm-token-1' }), 201)
  const sub = exchange.ews.subscriptions.at(-1)!
  const huge = { subject: 'Ünïcödé 😀 '.repeat(800), from: 'Spammer 😀'.repeat(500), email: 'x@evil.example' }
  assert.match((await exchange.ews.deliverMail(sub, huge)).body, /OK/)
  const sent = google.sends.at(-1)!.body.message.notification as { title: string, body: string }
  assert.ok(Buffer.byteLength(sent.title) <= 128 && Buffer.byteLength(sent.body) <= 1024, 'cut to the limits')
  assert.ok(sent.title.endsWith('…') && !sent.title.includes('\ufffd'), 'cut on a code point boundary')
  google.maxBytes = 10 // FCM now refuses every message as INVALID_ARGUMENT
  const refused = await exchange.ews.deliverMail(sub)
  assert.equal(refused.status, 200)
  assert.match(refused.body, /OK/, 'answered OK: a redelivery would be refused again')
  google.maxBytes = 4096
  assert.match((await exchange.ews.deliverMail(sub)).body, /OK/, 'the device is still subscribed')
  assert.equal(google.sends.length, 3)
  assert.match((await send(`${gateway.adminUrl}/metrics`)).body.toString(), /portcullis_ens_push_total\{provider="fcm",result="refused"\} 1/)
})
