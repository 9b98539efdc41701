import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createCa, createServerCert } from '../../gateway/lab/certificates.js'
import { ensGateway, ensSetup, ensUser, exchangeServer, subscribeDevice } from '../helpers/ens.js'
import { fakeApns } from '../helpers/push.js'

const USER = ensUser('dave@example.com', 'F0urth-Secret')
const DEVICE = { id: 'iphone-d', platform: 'apns', token: 'apns-token-d' }

test('APNs over HTTP/2 with TLS, verified against a CA file (as with Apple behind an inspecting proxy)', { timeout: 60_000 }, async t => {
  const ca = createCa('Push Proxy CA')
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-apns-tls-'))
  writeFileSync(join(dir, 'ca.pem'), ca.cert)
  const apns = await fakeApns(t, createServerCert(ca, ['127.0.0.1']))
  assert.match(apns.url, /^https:/)
  const exchange = await exchangeServer(t, USER, 'exch01')
  const { gateway } = await ensGateway(t, [exchange.url], { apns, ens: { push: { apns: { keyFile: apns.keyFile, keyId: 'TESTKEY123', teamId: 'TEAM123456', topic: 'com.example.mail', endpoint: apns.url, caFile: join(dir, 'ca.pem') } } } })
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  assert.match((await exchange.ews.deliverMail(exchange.ews.subscriptions.at(-1)!, { subject: 'Over TLS', from: 'Frank', email: 'frank@example.com' })).body, /OK/)
  assert.equal(apns.pushes.length, 1)
  assert.ok(apns.pushes[0]?.jwtValid)
  assert.deepEqual(apns.pushes[0]?.body.aps.alert, { title: 'Frank', body: 'Over TLS' })
})

test('APNs refusing the provider token: Exchange retries, the device is kept, the retry carries a fresh token', { timeout: 60_000 }, async t => {
  const { apns, exchange, gateway } = await ensSetup(t, USER)
  assert.equal((await subscribeDevice(gateway.url, USER, DEVICE)).status, 201)
  const sub = exchange.ews.subscriptions.at(-1)!
  apns.reject = { status: 403, reason: 'ExpiredProviderToken' }
  const first = await exchange.ews.deliverMail(sub)
  assert.equal(first.status, 503, 'Exchange will deliver again')
  apns.reject = undefined
  assert.match((await exchange.ews.notify(sub, first.notification)).body, /OK/, 'the device was not removed')
  assert.equal(apns.pushes.length, 2)
  assert.notEqual(apns.pushes[1]?.headers.authorization, apns.pushes[0]?.headers.authorization, 'a new provider token was signed')
  assert.ok(apns.pushes[1]?.jwtValid)

  apns.reject = { status: 400, reason: 'TopicDisallowed' } // our configuration, not the device
  assert.equal((await exchange.ews.deliverMail(sub)).status, 503)
  apns.reject = undefined
  assert.match((await exchange.ews.deliverMail(sub)).body, /OK/, 'still subscribed')
})
