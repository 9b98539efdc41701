import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryEnsState } from '../../ens/state/memory-ens-state.js'
import { MemoryInventory } from '../../gateway/store/memory-inventory.js'

test('the memory ENS state drops expired push claims and keys in its sweep, not only when they are read again', async () => {
  const state = new MemoryEnsState()
  assert.equal(await state.claimPush('u', 'd', 'item', 1), true) // claims are written once and never read again
  assert.equal(await state.claimPush('u', 'd', 'item', 1), false, 'a second gateway does not push twice')
  const key = { keyId: 'k1', publicKeyPem: 'pem', wrappedPrivateKey: 'w', createdAt: new Date().toISOString() }
  assert.equal(await state.addKey('u', key, 3600), true)
  assert.equal(await state.addKey('u', { ...key, keyId: 'k2' }, 3600), false, 'the first key stays')
  await state.retireKey('u', key, 1)
  assert.equal(state.sweep(Date.now() + 2000), 2)
  assert.equal(state.sweep(Date.now() + 2000), 0)
  assert.equal((await state.currentKey('u'))?.keyId, 'k1')
  assert.equal(await state.claimPush('u', 'd', 'item', 60), true, 'the swept claim is free again')
  state.close()
})

test('the memory inventory copies records in and out, and refuses new devices when full', async () => {
  const inventory = new MemoryInventory({ maxDevices: 1, retentionSeconds: 60 })
  const now = new Date().toISOString()
  const record = { deviceId: 'D1', user: 'CORP\\alice', state: 'seen' as const, firstSeen: now, lastSeen: now }
  assert.equal(await inventory.put(record), true)
  const read = await inventory.get('alice@corp.example', 'd1')
  assert.equal(read?.deviceId, 'D1', 'one account, whatever the spelling; DeviceIds compare case-insensitively')
  read!.state = 'blocked'
  assert.equal((await inventory.get('alice', 'D1'))?.state, 'seen', 'a copy: changing it changes nothing stored')
  assert.equal(await inventory.put({ ...record, deviceId: 'D2' }), false, 'full')
  assert.equal(await inventory.put({ ...record, state: 'approved' }), true, 'an existing record is always updated')
})
