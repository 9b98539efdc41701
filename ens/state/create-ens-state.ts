import { failingAsUnavailable } from '../../gateway/store/redis-connection.js'
import type { Store } from '../../gateway/store/store.js'
import type { EnsState } from './ens-state.js'
import { MemoryEnsState } from './memory-ens-state.js'
import { RedisEnsState } from './redis-ens-state.js'

/** ENS's state on the gateway's store backend: Redis when the store is Redis (shared by every gateway), else memory. */
export function createEnsState (store: Store): EnsState & { close?: () => void } {
  return store.redis ? failingAsUnavailable(new RedisEnsState(store.redis)) : new MemoryEnsState()
}
