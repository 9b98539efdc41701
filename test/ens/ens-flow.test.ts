import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { ensUser, subscribeDevice as subscribeThroughApi } from '../helpers/ens.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { fakeApns } from '../helpers/push.js'
import { startRedis } from '../helpers/redis.js'

const EMAIL = 'alice@example.com'
const PASSWORD = 'S3cret-Passw0rd!'
const USER_ID = createHash('sha256').update(EMAIL).digest('hex')
const API_TOKEN = 'device-api-token'
process.env.PORTCULLIS_ENS_TEST_TOKENS = `other, ${API_TOKEN}`
process.env.PORTCULLIS_ENS_TEST_MASTER = randomBytes(32).toString('base64')

interface World {
  exchange: ReturnType<typeof fakeExchange>
  apns: Awaited<ReturnType<typeof fakeApns>>
  webhook: SimServer
  webhookBodies: Array<Record<string, unknown>>
}

async function world (t: TestContext): Promise<World> {
  const exchange = fakeExchange('exch01')
  exchange.ews.users = { [EMAIL]: PASSWORD }
  const webhookBodies: Array<Record<string, unknown>> = []
  const webhook = new SimServer('webhook', (_req, res, body) => { webhookBodies.push(JSON.parse(body.toString()) as Record<string, unknown>); res.writeHead(204); res.end() })
  await Promise.all([exchange.listen(), webhook.listen()])
  closeAfter(t, exchange, webhook)
  return { exchange, apns: await fakeApns(t), webhook, webhookBodies }
}

async function ensGateway (t: TestContext, w: World, store?: Record<string, unknown>): Promise<Awaited<ReturnType<typeof startTestGateway>>> {
  const port = await freePort()
  return startTestGateway(t, {
    listen: { host: '127.0.0.1', port },
    publicUrl: `http://127.0.0.1:${port}`,
    upstreams: { exchange: { servers: [w.exchange.url] } },
    services: { activesync: { upstream: 'exchange' }, ews: { upstream: 'exchange' } },
    ...(store ? { store } : {}),
    ens: {
      enabled: true,
      ews: { upstream: 'exchange' },
      statusFrequencyMinutes: 15,
      masterKeyEnv: 'PORTCULLIS_ENS_TEST_MASTER',
      apiTokensEnv: 'PORTCULLIS_ENS_TEST_TOKENS',
      push: {
        apns: { keyFile: w.apns.keyFile, keyId: 'TESTKEY123', teamId: 'TEAM123456', topic: 'com.example.mail', endpoint: w.apns.url },
        webhook: { url: `${w.webhook.url}/push` }
      }
    }
  })
}

const json = (body: unknown): { body: string, headers: Record<string, string> } => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json', apitoken: API_TOKEN } })

/** A device of alice's subscribing with the API token; every key it gets must be RSA-OAEP-256. */
async function subscribeDevice (gatewayUrl: string, base: string, device: Record<string, string>, password = PASSWORD): Promise<Awaited<ReturnType<typeof subscribeThroughApi>>> {
  const result = await subscribeThroughApi(gatewayUrl, ensUser(EMAIL, PASSWORD), device, { base, headers: { apitoken: API_TOKEN }, password })
  assert.equal(result.algorithm, 'RSA-OAEP-256')
  return result
}

test('end to end: key → encrypt → subscribe → Exchange calls back → GetItem as the user → APNs and webhook pushes', { timeout: 60_000 }, async t => {
  const w = await world(t)
  const { gateway, logs } = await ensGateway(t, w)
  assert.equal((await send(`${gateway.url}/api/ens/alive`)).status, 200)
  assert.equal((await send(`${gateway.url}/api/ens/publickey`, { method: 'POST', body: JSON.stringify({ userId: USER_ID }), headers: { 'content-type': 'application/json' } })).status, 401, 'ApiToken required')

  const phone = await subscribeDevice(gateway.url, '/api/ens', { id: 'iphone-1', platform: 'apns', token: 'apns-token-1' })
  assert.equal(phone.status, 201)
  assert.match(String(phone.body.subscriptionId), /^[0-9a-f]{32}$/)
  const relay = await subscribeDevice(gateway.url, '/MailNotifications/api/ens', { id: 'relay-1', platform: 'webhook', token: 'relay-token' })
  assert.equal(relay.status, 201)

  // Exchange saw a Subscribe with the user's Basic credentials and a callback to the gateway.
  const sub = w.exchange.ews.subscriptions.at(-1)!
  assert.equal(sub.authorization, 'Basic ' + Buffer.from(`${EMAIL}:${PASSWORD}`).toString('base64'))
  const callback = new URL(sub.callbackUrl)
  assert.equal(callback.origin, new URL(gateway.url).origin)
  assert.equal(callback.pathname, '/api/ens/notify')
  assert.equal(callback.searchParams.get('creds'), relay.ciphertext, 'the ciphertext exactly as the device sent it')
  assert.ok(callback.searchParams.get('id') && callback.searchParams.get('s'))

  const delivered = await w.exchange.ews.deliverMail(sub, { subject: 'Q3 budget & forecast', from: 'Dana Example', email: 'dana@example.com' })
  assert.equal(delivered.status, 200)
  assert.match(delivered.body, /<SubscriptionStatus>OK<\/SubscriptionStatus>/)
  assert.equal(w.exchange.ews.getItems.length, 1, 'Created + NewMail for one item: fetched once')
  assert.deepEqual({ ...w.exchange.ews.getItems[0] }, { user: EMAIL, itemId: delivered.itemId, userAgent: 'Portcullis-ENS/1.0' })
  assert.equal(w.apns.pushes.length, 1, 'pushed once')
  const push = w.apns.pushes[0]!
  assert.equal(push.token, 'apns-token-1')
  assert.ok(push.jwtValid, 'ES256 provider token signed with the .p8 key')
  assert.equal(push.headers['apns-topic'], 'com.example.mail')
  assert.equal(push.headers['apns-push-type'], 'alert')
  assert.deepEqual(push.body.aps.alert, { title: 'Dana Example', body: 'Q3 budget & forecast' })
  assert.equal(w.webhookBodies.length, 1)
  assert.equal(w.webhookBodies[0]?.subject, 'Q3 budget & forecast')
  assert.equal(w.webhookBodies[0]?.from, 'Dana Example')

  // Exchange redelivers the same notification: nothing is pushed twice.
  const again = await w.exchange.ews.notify(sub, delivered.notification)
  assert.match(again.body, /OK/)
  assert.equal(w.apns.pushes.length, 1)
  assert.equal(w.webhookBodies.length, 1)

  // A heartbeat is answered OK and pushes nothing.
  assert.match((await w.exchange.ews.heartbeat(sub)).body, /<SubscriptionStatus>OK</)
  assert.equal(w.apns.pushes.length, 1)

  // Tampered credentials: no EWS call, no push, the uniform answer.
  const tampered = new URL(sub.callbackUrl)
  const creds = tampered.searchParams.get('creds')!
  tampered.searchParams.set('creds', creds.slice(0, 10) + (creds[10] === 'A' ? 'B' : 'A') + creds.slice(11))
  const forged = await w.exchange.ews.deliverMail(sub, undefined, tampered.href)
  assert.match(forged.body, /Unsubscribe/)
  assert.equal(w.exchange.ews.getItems.length, 1, 'no EWS call')
  assert.equal(w.apns.pushes.length, 1, 'no push')

  // Wrong secret or unknown id: Unsubscribe too.
  const wrongSecret = new URL(sub.callbackUrl)
  wrongSecret.searchParams.set('s', 'guessed')
  assert.match((await w.exchange.ews.deliverMail(sub, undefined, wrongSecret.href)).body, /Unsubscribe/)

  // Only SOAP SendNotification is accepted on the notify route.
  assert.equal((await send(sub.callbackUrl, { method: 'POST', body: '<x/>', headers: { 'content-type': 'text/xml' } })).status, 400)

  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_ens_notifications_total\{event="newmail",result="ok"\} 2/)
  assert.match(metrics, /portcullis_ens_push_total\{provider="apns",result="sent"\} 1/)
  assert.match(metrics, /portcullis_ens_subscriptions_total\{result="created"\} 2/)

  // Unsubscribing every device makes the next answer Unsubscribe.
  for (const [deviceId, subscribed] of [['iphone-1', phone], ['relay-1', relay]] as const) {
    assert.equal((await send(`${gateway.url}/api/ens/unsubscribe`, { method: 'POST', ...json({ userId: USER_ID, deviceId, subscriptionId: subscribed.body.subscriptionId }) })).status, 204)
  }
  assert.match((await w.exchange.ews.deliverMail(sub)).body, /Unsubscribe/)

  for (const secret of [PASSWORD, relay.ciphertext, phone.ciphertext]) assert.ok(!logs.raw.includes(secret), 'no credential or ciphertext in the logs')
})

test('Exchange refusing the credentials makes subscribe answer 401; a dead APNs token is removed', { timeout: 60_000 }, async t => {
  const w = await world(t)
  const { gateway } = await ensGateway(t, w)
  const refused = await subscribeDevice(gateway.url, '/api/ens', { id: 'p', platform: 'apns', token: 't' }, 'wrong-password')
  assert.equal(refused.status, 401)
  assert.equal(w.exchange.ews.subscriptions.length, 0)

  w.apns.dead.add('dead-token')
  assert.equal((await subscribeDevice(gateway.url, '/api/ens', { id: 'old-phone', platform: 'apns', token: 'dead-token' })).status, 201)
  const sub = w.exchange.ews.subscriptions.at(-1)!
  const result = await w.exchange.ews.deliverMail(sub)
  assert.match(result.body, /Unsubscribe/, 'the only device was unregistered: nothing left to push to')
  assert.equal(w.apns.pushes.length, 1)
})

test('two gateways on one Redis serve each other\'s subscriptions; Redis holds no secret', { timeout: 60_000 }, async t => {
  const w = await world(t)
  const { url, client } = await startRedis(t)
  const store = { type: 'redis', redis: { url, keyPrefix: 'ens-test:' } }
  const a = await ensGateway(t, w, store)
  const b = await ensGateway(t, w, store)
  const phone = await subscribeDevice(a.gateway.url, '/api/ens', { id: 'iphone-1', platform: 'apns', token: 'apns-token-1' })
  assert.equal(phone.status, 201)
  const sub = w.exchange.ews.subscriptions.at(-1)!
  const throughB = sub.callbackUrl.replace(new URL(a.gateway.url).origin, new URL(b.gateway.url).origin)
  const delivered = await w.exchange.ews.deliverMail(sub, undefined, throughB)
  assert.match(delivered.body, /OK/)
  assert.equal(w.apns.pushes.length, 1, 'gateway B decrypted with the key gateway A created')
  assert.match((await w.exchange.ews.notify(sub, delivered.notification, sub.callbackUrl)).body, /OK/)
  assert.equal(w.apns.pushes.length, 1, 'the redelivery through A is recognised as a duplicate')

  const keys = await client.keys('ens-test:*')
  assert.ok(keys.some(k => k.startsWith('ens-test:ens:key:')))
  const dump = (await Promise.all(keys.map(async k => {
    const type = await client.type(k)
    if (type === 'string') return await client.get(k)
    if (type === 'hash') return JSON.stringify(await client.hgetall(k))
    return JSON.stringify(await client.smembers(k))
  }))).join('\n')
  assert.ok(!dump.includes(PASSWORD), 'no password')
  assert.ok(!dump.includes(`${EMAIL}:`), 'no user:password')
  assert.ok(!dump.includes(phone.ciphertext) && !dump.includes(phone.ciphertext.slice(0, 40)), 'no copy of the encrypted credentials')
  assert.ok(!dump.includes('PRIVATE KEY') && !dump.includes('MIIE'), 'no unwrapped private key')
  for (const { logs } of [a, b]) assert.ok(!logs.raw.includes(PASSWORD) && !logs.raw.includes(phone.ciphertext))
})

test('the heartbeat watchdog sends a silent push when a subscription has gone quiet', { timeout: 60_000 }, async t => {
  const w = await world(t)
  const { gateway } = await ensGateway(t, w)
  assert.equal((await subscribeDevice(gateway.url, '/api/ens', { id: 'iphone-1', platform: 'apns', token: 'apns-token-1' })).status, 201)
  assert.equal(await gateway.ens!.service.checkHeartbeats(Date.now()), 0)
  const later = Date.now() + 31 * 60_000 // 2 × StatusFrequency (15 min) without a heartbeat
  assert.equal(await gateway.ens!.service.checkHeartbeats(later), 1)
  assert.equal(w.apns.pushes.length, 1)
  assert.equal(w.apns.pushes[0]?.headers['apns-push-type'], 'background')
  assert.deepEqual(w.apns.pushes[0]?.body.ens, { action: 'resubscribe' })
  assert.equal(await gateway.ens!.service.checkHeartbeats(later + 60_000), 0, 'once per overdue period')
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_ens_notifications_total\{event="heartbeat_overdue",result="resubscribe_push"\} 1/)
})
