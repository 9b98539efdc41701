import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryStore } from '../../gateway/store/memory-store.js'

test('the memory store drops expired values in its sweep, not only when they are read again', async () => {
  const store = new MemoryStore()
  await store.set('seen-mark', '1', 1) // ENS de-duplication marks are written once and never read again
  await store.set('forever', '2')
  await store.set('later', '3', 3600)
  assert.equal(store.sweep(Date.now() + 2000), 1)
  assert.equal(store.sweep(Date.now() + 2000), 0)
  assert.equal(await store.get('forever'), '2')
  assert.equal(await store.get('later'), '3')
  assert.equal(await store.setIfAbsent('seen-mark', '1', 60), true, 'the swept key is free again')
  await store.close()
})
