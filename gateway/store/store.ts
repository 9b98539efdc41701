import type { DeviceInventory } from './device-inventory.js'
import type { RedisConnection } from './redis-connection.js'

/**
 * Shared state, by domain: the device inventory here, ENS's state in ens/state/ (built on the same
 * backend). Two backends: memory (the embedded default) and Redis, where every gateway sharing it
 * sees the same devices, decisions, keys and subscriptions at once.
 */
export interface Store {
  readonly kind: 'memory' | 'redis'
  readonly inventory: DeviceInventory
  /** The Redis connection other domain stores build on; undefined on the memory backend. */
  readonly redis: RedisConnection | undefined
  /** Resolves when the backend answers; rejects when it is unreachable. */
  ping: () => Promise<void>
  close: () => Promise<void>
}
