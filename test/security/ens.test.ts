// Regression tests for the ENS findings of the security review (issue 10, items 1-4, 6, 10, 11).
import assert from 'node:assert/strict'
import { constants, publicEncrypt } from 'node:crypto'
import { test } from 'node:test'
import { parseXml, XmlError } from '../../gateway/protocols/xml.js'
import { bucketOf, KeyRateLimit } from '../../ens/rate-limit.js'
import { ensGateway, ensSetup, ensUser, subscribeDevice, type EnsUser } from '../helpers/ens.js'
import { send } from '../helpers/http.js'
import { fakeApns } from '../helpers/push.js'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { closeAfter } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis.js'

const VICTIM = ensUser('victim@example.com', 'Victim-Pa55')
const MALLORY = ensUser('mallory@example.com', 'Mallory-Pa55')
const JSON_HEADERS = { 'content-type': 'application/json' }

/** One fake Exchange that knows both users, and a gateway with ENS on it. */
async function twoUsers (t: Parameters<typeof ensSetup>[0]): ReturnType<typeof ensSetup> {
  return ensSetup(t, VICTIM, exchange => { exchange.ews.users = { [VICTIM.email]: VICTIM.password, [MALLORY.email]: MALLORY.password } })
}

/** What an attacker does: takes `userId`'s public key and encrypts her own credentials to it. */
async function subscribeAs (gatewayUrl: string, userId: string, emailAddress: string | undefined, credentials: EnsUser, device: Record<string, string>): Promise<{ status: number, body: string }> {
  const key = JSON.parse((await send(`${gatewayUrl}/api/ens/publickey`, { method: 'POST', body: JSON.stringify({ userId }), headers: JSON_HEADERS })).body.toString()) as { keyId: string, publicKey: string }
  const ciphertext = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(`${credentials.email}:${credentials.password}`)).toString('base64url')
  const res = await send(`${gatewayUrl}/api/ens/subscribe`, { method: 'POST', body: JSON.stringify({ userId, keyId: key.keyId, credentials: ciphertext, ...(emailAddress !== undefined ? { emailAddress } : {}), device }), headers: JSON_HEADERS })
  return { status: res.status, body: res.body.toString() }
}

test('a mailbox user cannot subscribe under another user\'s userId: Exchange refuses her credentials on that mailbox', { timeout: 60_000 }, async t => {
  const { gateway, exchange, apns } = await twoUsers(t)
  const victim = await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })
  assert.equal(victim.status, 201)
  const victimSub = exchange.ews.subscriptions.at(-1)!
  assert.ok(victimSub.mailboxNamed, 'the Subscribe names the mailbox')
  assert.equal(victimSub.mailbox, VICTIM.email)

  const attacker = { id: 'mallory-phone', platform: 'apns', token: 'mallory-token' }
  const named = await subscribeAs(gateway.url, VICTIM.userId, VICTIM.email, MALLORY, attacker)
  assert.equal(named.status, 403, 'Exchange answered ErrorAccessDenied for the victim\'s mailbox')
  const ownAddress = await subscribeAs(gateway.url, VICTIM.userId, MALLORY.email, MALLORY, attacker)
  assert.equal(ownAddress.status, 403, 'the address must be the one userId names')
  assert.equal(ownAddress.body, named.body, 'one uniform refusal')
  assert.equal((await subscribeAs(gateway.url, VICTIM.userId, undefined, MALLORY, attacker)).status, 400, 'emailAddress is required')
  assert.equal(exchange.ews.subscriptions.length, 1, 'no subscription was made for the attacker')

  await exchange.ews.deliverMail(victimSub, { subject: 'Quarterly numbers', from: 'CFO', email: 'cfo@example.com' })
  assert.deepEqual(apns.pushes.map(p => p.token), ['victim-token'], 'the victim\'s mail reaches only the victim\'s phone')
})

test('a delegate\'s subscription to a shared mailbox does not inherit the owner\'s devices', { timeout: 60_000 }, async t => {
  const { gateway, exchange, apns } = await twoUsers(t)
  exchange.ews.delegates = { [VICTIM.email]: [MALLORY.email] } // FullAccess, so Exchange lets her open it
  assert.equal((await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })).status, 201)
  assert.equal((await subscribeAs(gateway.url, VICTIM.userId, VICTIM.email, MALLORY, { id: 'delegate-phone', platform: 'apns', token: 'delegate-token' })).status, 201)
  await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!)
  assert.deepEqual(apns.pushes.map(p => p.token), ['delegate-token'], 'the new credentials start a list of their own')
})

test('unsubscribe needs the subscription id the device was given; unknown and foreign devices are answered alike', { timeout: 60_000 }, async t => {
  const { gateway, exchange, apns } = await twoUsers(t)
  const victim = await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })
  const mallory = await subscribeDevice(gateway.url, MALLORY, { id: 'mallory-phone', platform: 'apns', token: 'mallory-token' })
  const unsubscribe = (body: Record<string, unknown>): Promise<{ status: number, body: Buffer }> => send(`${gateway.url}/api/ens/unsubscribe`, { method: 'POST', body: JSON.stringify(body), headers: JSON_HEADERS })
  assert.equal((await unsubscribe({ userId: VICTIM.userId, deviceId: 'victim-phone' })).status, 400, 'no proof')
  const foreign = await unsubscribe({ userId: VICTIM.userId, deviceId: 'victim-phone', subscriptionId: mallory.body.subscriptionId })
  const unknown = await unsubscribe({ userId: VICTIM.userId, deviceId: 'no-such-phone', subscriptionId: victim.body.subscriptionId })
  assert.equal(foreign.status, 404)
  assert.equal(unknown.status, 404)
  assert.deepEqual(foreign.body, unknown.body)
  await exchange.ews.deliverMail(exchange.ews.subscriptions.find(s => s.mailbox === VICTIM.email)!)
  assert.deepEqual(apns.pushes.map(p => p.token), ['victim-token'], 'the victim\'s phone is still subscribed')
  assert.equal((await unsubscribe({ userId: VICTIM.userId, deviceId: 'victim-phone', subscriptionId: victim.body.subscriptionId })).status, 204)
})

test('a notification naming another SubscriptionId than the one stored for the handle is answered Unsubscribe and changes nothing', { timeout: 60_000 }, async t => {
  const { gateway, exchange, apns } = await twoUsers(t)
  await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })
  const sub = exchange.ews.subscriptions.at(-1)!
  const foreign = await exchange.ews.deliverMail({ ...sub, subscriptionId: 'c29tZW9uZSBlbHNlcyBzdWJzY3JpcHRpb24=' }, undefined, sub.callbackUrl)
  assert.match(foreign.body, /Unsubscribe/)
  assert.equal(apns.pushes.length, 0)
  assert.equal(exchange.ews.getItems.length, 0, 'no EWS call with the credentials')
  assert.match((await exchange.ews.deliverMail(sub)).body, /OK/, 'the real subscription still works')
  assert.equal(apns.pushes.length, 1)
})

test('the device API\'s 404 never echoes the URL or its query', { timeout: 60_000 }, async t => {
  const { gateway } = await ensSetup(t, VICTIM)
  for (const path of ['/api/ens/nothing?creds=SECRET-CREDS', '/MailNotifications/api/ens/x?creds=SECRET-CREDS']) {
    const res = await send(`${gateway.url}${path}`, { method: 'POST', body: '{}', headers: JSON_HEADERS })
    assert.equal(res.status, 404)
    assert.ok(!res.body.toString().includes('SECRET'), res.body.toString())
    assert.ok(!res.body.toString().includes('/nothing'), 'no path either')
  }
})

test('the notify route: an unauthenticated deep document is answered without being read; an authenticated one is refused by depth', { timeout: 60_000 }, async t => {
  const { gateway, exchange } = await ensSetup(t, VICTIM)
  const deep = '<a xmlns:p="urn:x">'.repeat(5000) + '</a>'.repeat(5000) // 115 KB
  const orphan = await send(`${gateway.url}/api/ens/notify?id=${'0'.repeat(32)}&s=x&creds=y`, { method: 'POST', body: deep, headers: { 'content-type': 'text/xml' } })
  assert.equal(orphan.status, 200)
  assert.match(orphan.body.toString(), /Unsubscribe/)
  await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })
  const authenticated = await send(exchange.ews.subscriptions.at(-1)!.callbackUrl, { method: 'POST', body: deep, headers: { 'content-type': 'text/xml' } })
  assert.equal(authenticated.status, 400)
  assert.equal((await send(`${gateway.url}/api/ens/alive`)).status, 200)
})

test('XML parsing is bounded in depth and element count', () => {
  assert.throws(() => parseXml('<a>'.repeat(33) + '</a>'.repeat(33)), XmlError)
  assert.doesNotThrow(() => parseXml('<a>'.repeat(32) + '</a>'.repeat(32)))
  assert.throws(() => parseXml('<a>' + '<b/>'.repeat(20_001) + '</a>'), XmlError)
  assert.throws(() => parseXml('<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'), XmlError)
})

test('a gzip bomb from EWS is decompressed to a limit: Exchange is asked to retry, nothing is pushed, the gateway lives on', { timeout: 60_000 }, async t => {
  const { gateway, exchange, apns } = await ensSetup(t, VICTIM)
  await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })
  exchange.ews.gzipBombBytes = 64 * 1024 * 1024 // 64 MiB of spaces: about 64 KB of gzip
  const answer = await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!)
  assert.equal(answer.status, 503)
  assert.equal(apns.pushes.length, 0)
  assert.equal((await send(`${gateway.url}/api/ens/alive`)).status, 200)
})

test('key creation: a global cap on concurrent generations, IPv6 counted per /64', () => {
  const limit = new KeyRateLimit(1, 60, 2)
  assert.equal(limit.admit('192.0.2.1'), 'ok')
  assert.equal(limit.admit('192.0.2.2'), 'ok')
  assert.equal(limit.admit('192.0.2.3'), 'busy', 'two generations are running')
  limit.done()
  assert.equal(limit.admit('2001:db8:1:2::1'), 'ok')
  limit.done()
  assert.equal(limit.admit('2001:db8:1:2:ffff::9'), 'limited', 'the same /64')
  assert.equal(limit.admit('2001:db8:1:3::1'), 'ok', 'another /64')
  assert.equal(bucketOf('2001:DB8:0:0:1::1'), bucketOf('2001:db8::1:0:0:2'))
})

test('a key no subscription used expires from the store; a used one is kept', { timeout: 60_000 }, async t => {
  const redis = await startRedis(t)
  const apns = await fakeApns(t)
  const exchange = fakeExchange('exch01')
  exchange.ews.users = { [VICTIM.email]: VICTIM.password }
  await exchange.listen()
  closeAfter(t, exchange)
  process.env.PORTCULLIS_ENS_SEC_MASTER = Buffer.alloc(32, 7).toString('base64')
  const { gateway } = await ensGateway(t, [exchange.url], { apns, ens: { masterKeyEnv: 'PORTCULLIS_ENS_SEC_MASTER' }, store: { type: 'redis', redis: { url: redis.url, keyPrefix: 'enssec:' } } })
  await send(`${gateway.url}/api/ens/publickey`, { method: 'POST', body: JSON.stringify({ userId: MALLORY.userId }), headers: JSON_HEADERS })
  const unused = await redis.client.ttl(`enssec:ens:key:${MALLORY.userId}`)
  assert.ok(unused > 0 && unused <= 86_400, `unused key TTL ${unused}`)
  assert.equal((await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })).status, 201)
  assert.ok(await redis.client.ttl(`enssec:ens:key:${VICTIM.userId}`) > 86_400 * 365, 'a used key is kept')
})

test('APNs refusing a message as too large (413) keeps the device and answers Exchange OK instead of asking for redelivery forever', { timeout: 60_000 }, async t => {
  const { gateway, exchange, apns } = await ensSetup(t, VICTIM)
  await subscribeDevice(gateway.url, VICTIM, { id: 'victim-phone', platform: 'apns', token: 'victim-token' })
  const sub = exchange.ews.subscriptions.at(-1)!
  apns.reject = { status: 413, reason: 'PayloadTooLarge' }
  const refused = await exchange.ews.deliverMail(sub)
  assert.equal(refused.status, 200)
  assert.match(refused.body, /OK/)
  apns.reject = undefined
  assert.match((await exchange.ews.deliverMail(sub)).body, /OK/)
  assert.equal(apns.pushes.filter(p => p.token === 'victim-token').length, 2, 'the device is still there')
  assert.match((await send(`${gateway.adminUrl}/metrics`)).body.toString(), /portcullis_ens_push_total\{provider="apns",result="refused"\} 1/)
})
