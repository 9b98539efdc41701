import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { createCa, createServerCert } from '../../gateway/lab/certificates.js'
import { ensGateway, ensSetup, ensUser, exchangeServer, subscribeDevice } from '../helpers/ens.js'
import { send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { fakeApns } from '../helpers/push.js'

const USER = ensUser('carol@example.com', 'Th1rd-Secret')
const DEVICE = { id: 'iphone-c', platform: 'apns', token: 'apns-token-c' }

test('EWS failover: a dead first server is skipped for Subscribe and GetItem', { timeout: 60_000 }, async t => {
  const apns = await fakeApns(t)
  const alive = await exchangeServer(t, USER, 'exch02')
  const dead = `http://127.0.0.1:${await freePort()}` // nothing listens here
  const { gateway } = await ensGateway(t, [dead, alive.url], { apns })
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  const sub = alive.ews.subscriptions.at(-1)!
  for (let i = 0; i < 3; i++) assert.match((await alive.ews.deliverMail(sub)).body, /OK/)
  assert.equal(alive.ews.getItems.length, 3)
  assert.equal(apns.pushes.length, 3)
})

test('an EWS front end that gzips its answers unasked is still understood (Subscribe and GetItem)', { timeout: 60_000 }, async t => {
  const { apns, exchange, gateway } = await ensSetup(t, USER, e => { e.ews.compressAlways = true })
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  assert.match((await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!, { subject: 'Zipped', from: 'Gina', email: 'gina@example.com' })).body, /OK/)
  assert.deepEqual(apns.pushes[0]?.body.aps.alert, { title: 'Gina', body: 'Zipped' })
})

test('EWS answering 503 makes Exchange retry; the retry pushes once', { timeout: 60_000 }, async t => {
  const { apns, exchange, gateway } = await ensSetup(t, USER)
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  const sub = exchange.ews.subscriptions.at(-1)!
  exchange.mode = 'iis-503'
  const first = await exchange.ews.deliverMail(sub, { subject: 'Retry me', from: 'Eve', email: 'eve@example.com' })
  assert.equal(first.status, 503, 'not OK: Exchange delivers the notification again')
  assert.equal(apns.pushes.length, 0)
  exchange.mode = 'normal'
  const again = await exchange.ews.notify(sub, first.notification)
  assert.match(again.body, /OK/)
  assert.equal(apns.pushes.length, 1)
  assert.deepEqual(apns.pushes[0]?.body.aps.alert, { title: 'Eve', body: 'Retry me' })
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_ens_notifications_total\{event="newmail",result="retry"\} 1/)
})

test('EWS over HTTPS is verified against the pool\'s CA file; a wrong CA means no subscription', { timeout: 60_000 }, async t => {
  const apns = await fakeApns(t)
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-ens-tls-'))
  const ca = createCa('Corp Exchange CA')
  writeFileSync(join(dir, 'ca.pem'), ca.cert)
  writeFileSync(join(dir, 'other-ca.pem'), createCa('Someone Else').cert)
  const exchange = await exchangeServer(t, USER, 'exch-tls', createServerCert(ca, ['127.0.0.1']))
  assert.match(exchange.url, /^https:/)

  const wrong = await ensGateway(t, [exchange.url], { apns, tls: { caFile: join(dir, 'other-ca.pem') } })
  assert.equal((await subscribeDevice(wrong.gateway.url, USER, DEVICE)).status, 503)
  assert.equal(exchange.ews.subscriptions.length, 0, 'no request reached a server that failed verification')

  const right = await ensGateway(t, [exchange.url], { apns, tls: { caFile: join(dir, 'ca.pem') } })
  assert.equal((await subscribeDevice(right.gateway.url, USER, DEVICE)).status, 201)
  assert.match((await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!)).body, /OK/)
  assert.equal(apns.pushes.length, 1)
})

test('a mail already gone when GetItem runs is still pushed, without subject or sender', { timeout: 60_000 }, async t => {
  const { apns, exchange, gateway, logs } = await ensSetup(t, USER)
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  exchange.ews.deleted.add('AAMkAD-moved-item')
  const result = await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!, undefined, undefined, 'AAMkAD-moved-item')
  assert.match(result.body, /OK/)
  assert.equal(apns.pushes.length, 1)
  assert.deepEqual(apns.pushes[0]?.body.aps.alert, { body: 'New mail' })
  assert.equal(logs.find('ENS GetItem found no item: pushing without subject')[0]?.code, 'ErrorItemNotFound')
})

test('the notify route takes only POSTed SOAP: 405, 415, 400, 413, and the gateway lives on', { timeout: 60_000 }, async t => {
  const { gateway, exchange } = await ensSetup(t, USER)
  const unknown = `${gateway.url}/api/ens/notify?id=x&s=y&creds=secret-ciphertext`
  const get = await send(unknown)
  assert.equal(get.status, 405)
  assert.equal(get.headers.allow, 'POST')
  assert.equal((await send(unknown, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 415)
  assert.equal((await send(unknown, { method: 'POST', body: '<x/>', headers: { 'content-type': 'text/xml', soapaction: 'urn:Other' } })).status, 400)
  // An unknown handle is answered Unsubscribe before its body is read, whatever the body.
  const orphan = await send(unknown, { method: 'POST', body: '<soap:Envelope><unclosed>', headers: { 'content-type': 'text/xml' } })
  assert.equal(orphan.status, 200)
  assert.match(orphan.body.toString(), /Unsubscribe/)
  // A real callback URL: malformed and oversized bodies are refused.
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  const url = exchange.ews.subscriptions.at(-1)!.callbackUrl
  const broken = await send(url, { method: 'POST', body: '<soap:Envelope><unclosed>', headers: { 'content-type': 'text/xml' } })
  assert.equal(broken.status, 400)
  assert.ok(!broken.body.toString().includes(new URL(url).searchParams.get('creds')!), 'errors never echo the URL')
  assert.equal((await send(url, { method: 'POST', body: Buffer.alloc(1_100_000, 'a'), headers: { 'content-type': 'text/xml' } })).status, 413)
  assert.equal((await send(url, { method: 'POST', body: Readable.from([Buffer.alloc(200_000, 'a')]), headers: { 'content-type': 'text/xml' } })).status, 413, 'chunked, no length announced')
  assert.equal((await send(`${gateway.url}/api/ens/alive`)).status, 200)
})

test('key rotation: the old key keeps serving its subscriptions through the grace period; revoking asks devices to subscribe again', { timeout: 60_000 }, async t => {
  const { apns, exchange, gateway, logs } = await ensSetup(t, USER)
  const admin = { method: 'POST' as const, headers: { authorization: 'Bearer ens-admin-token' } }
  const first = await subscribeDevice(gateway.url, USER, DEVICE)
  assert.equal(first.status, 201)
  const oldSub = exchange.ews.subscriptions.at(-1)!

  const rotated = JSON.parse((await send(`${gateway.adminUrl}/api/ens/keys/${USER.userId}/rotate`, admin)).body.toString()) as { keyId: string, retired: string, revoked: boolean }
  assert.equal(rotated.retired, first.keyId)
  assert.notEqual(rotated.keyId, first.keyId)
  assert.match((await exchange.ews.deliverMail(oldSub)).body, /OK/, 'the retired key still decrypts the old callback URL')
  assert.equal(apns.pushes.length, 1)

  const second = await subscribeDevice(gateway.url, USER, { ...DEVICE, id: 'ipad-c', token: 'apns-token-c2' })
  assert.equal(second.keyId, rotated.keyId, 'devices now get the new key')
  assert.equal(second.status, 201)

  const revoked = JSON.parse((await send(`${gateway.adminUrl}/api/ens/keys/${USER.userId}/rotate?revoke=true`, admin)).body.toString()) as { retired: string, revoked: boolean }
  assert.deepEqual([revoked.retired, revoked.revoked], [rotated.keyId, true])
  const newSub = exchange.ews.subscriptions.at(-1)!
  const pushesBefore = apns.pushes.length
  assert.match((await exchange.ews.deliverMail(newSub)).body, /Unsubscribe/)
  const silent = apns.pushes.slice(pushesBefore)
  assert.deepEqual(silent.map(p => [p.token, p.headers['apns-push-type'], p.body.ens?.action]).sort(), [['apns-token-c', 'background', 'resubscribe'], ['apns-token-c2', 'background', 'resubscribe']])
  assert.equal((await send(`${gateway.adminUrl}/api/ens/keys/${USER.userId}/rotate`, { method: 'POST' })).status, 401, 'admin token required')
  assert.equal(logs.find('ENS key rotated').length, 2)
})

test('ENS shares the proxy\'s failover: an EWS front end answering an HTTP.sys 503 is replayed on the next one and counted against it', { timeout: 60_000 }, async t => {
  const apns = await fakeApns(t)
  const broken = await exchangeServer(t, USER, 'exch01')
  const alive = await exchangeServer(t, USER, 'exch02')
  broken.mode = 'iis-503'
  const { gateway } = await ensGateway(t, [broken.url, alive.url], { apns })
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201, 'Subscribe replayed on exch02')
  assert.match((await alive.ews.deliverMail(alive.ews.subscriptions.at(-1)!, { subject: 'Once', from: 'Ann', email: 'ann@example.com' })).body, /OK/)
  assert.equal(apns.pushes.length, 1)
  const server = gateway.pools.get('exchange')!.snapshot().servers.find(s => s.name === new URL(broken.url).host)!
  assert.equal(server.lastFailure?.reason, 'http_503')
  assert.ok(server.consecutiveFailures >= 1)
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_upstream_retries_total\{upstream="exchange",reason="http_503"\} [1-9]/)
})

test('an EWS HTTP 500 (ErrorServerBusy, per-user throttling) is an answer, not a server failure: Exchange is asked to redeliver', { timeout: 60_000 }, async t => {
  const { apns, exchange, gateway } = await ensSetup(t, USER)
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  exchange.ews.serverBusy = true
  const first = await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!, { subject: 'Busy', from: 'Bo', email: 'bo@example.com' })
  assert.equal(first.status, 503, 'retry later: Exchange keeps the notification')
  assert.equal(apns.pushes.length, 0)
  const server = gateway.pools.get('exchange')!.snapshot().servers[0]!
  assert.equal(server.consecutiveFailures, 0, 'not counted against the server')
  assert.equal(server.lastFailure, null)
  assert.equal(server.state, 'healthy')
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_upstream_requests_total\{upstream="exchange",server="[^"]+",status_class="5xx",outcome="response"\} 1/)
  exchange.ews.serverBusy = false
  assert.match((await exchange.ews.notify(exchange.ews.subscriptions.at(-1)!, first.notification)).body, /OK/)
  assert.equal(apns.pushes.length, 1)
})
