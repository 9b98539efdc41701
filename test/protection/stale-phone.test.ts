import assert from 'node:assert/strict'
import { test } from 'node:test'
import { send } from '../helpers/http.js'
import { directoryExchange, failuresAt, folderSync, protectedGateway, protectionState } from '../helpers/protection.js'

test('a phone retrying an old password costs the directory one bad attempt, is listed as stale, and the user\'s new phone keeps syncing', { timeout: 60_000 }, async t => {
  const users = { alice: 'Old-Passw0rd' }
  const exchange = await directoryExchange(t, users)
  const { gateway, logs } = await protectedGateway(t, exchange)
  const oldPhone = { user: 'alice', password: 'Old-Passw0rd', device: 'OLDPHONE', client: '198.51.100.7' }
  assert.equal((await folderSync(gateway.url, oldPhone)).status, 200)
  users.alice = 'New-Passw0rd' // the password changes at the directory
  const newPhone = { user: 'alice@corp.example', password: 'New-Passw0rd', device: 'NEWPHONE', client: '198.51.100.7' }
  assert.equal((await folderSync(gateway.url, newPhone)).status, 200)

  const first = await folderSync(gateway.url, oldPhone)
  assert.equal(first.status, 401)
  for (let i = 0; i < 30; i++) {
    const again = await folderSync(gateway.url, oldPhone)
    assert.equal(again.status, 401)
    assert.deepEqual(again.headers['www-authenticate'], first.headers['www-authenticate'], 'the same challenge Exchange sent')
    assert.equal(again.body.toString(), first.body.toString())
  }
  assert.equal(failuresAt(exchange, 'alice'), 1, 'the directory saw the old password once')
  assert.equal(exchange.directory.get('alice')?.lockouts, 0)
  assert.equal((await folderSync(gateway.url, newPhone)).status, 200, 'the new phone keeps syncing')
  const state = await protectionState(gateway.adminUrl)
  assert.deepEqual(state.staleDevices.map(d => [d.user, d.deviceId]), [['alice', 'oldphone']])
  assert.ok(logs.raw.includes('protection: client=198.51.100.7 user=alice reason=stale_device'))

  // Unlocking the account clears its stale device and refused credential: the old phone may try once more.
  const unlocked = await send(`${gateway.adminUrl}/api/protection/users/CORP%5Calice`, { method: 'DELETE', headers: { authorization: 'Bearer protection-admin-token' } })
  assert.equal(JSON.parse(unlocked.body.toString()).unlocked, true)
  assert.equal((await protectionState(gateway.adminUrl)).staleDevices.length, 0)
  assert.equal((await folderSync(gateway.url, oldPhone)).status, 401)
  assert.equal(failuresAt(exchange, 'alice'), 2)
})

test('a refused credential is let through once per retry interval: a right password refused while the account was locked recovers', { timeout: 60_000 }, async t => {
  const users = { bob: 'Right-Passw0rd' }
  const exchange = await directoryExchange(t, users)
  const { gateway } = await protectedGateway(t, exchange, { badCredentials: { retryMinutes: 0.02 } })
  const phone = { user: 'bob', password: 'Right-Passw0rd', device: 'BOBPHONE', client: '198.51.100.8' }
  exchange.directory.set('bob', { badPwdCount: 5, maxBadPwdCount: 5, lastBadAt: Date.now(), lockedUntil: Date.now() + 60_000, lockouts: 1, failures: 5 }) // locked by someone else
  assert.equal((await folderSync(gateway.url, phone)).status, 401, 'refused by the locked directory')
  assert.equal((await folderSync(gateway.url, phone)).status, 401, 'now answered by the gateway')
  exchange.directory.get('bob')!.lockedUntil = 0 // an admin unlocks the account in AD
  await new Promise(resolve => setTimeout(resolve, 1500)) // retryMinutes 0.02 = 1.2 s
  assert.equal((await folderSync(gateway.url, phone)).status, 200, 'the retry goes through and succeeds')
  assert.equal((await folderSync(gateway.url, phone)).status, 200, 'and the credential is no longer refused')
})
