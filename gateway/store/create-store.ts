import type { Config } from '../config/schema.js'
import { MemoryInventory } from './memory-inventory.js'
import { failingAsUnavailable, RedisConnection } from './redis-connection.js'
import { RedisInventory } from './redis-inventory.js'
import type { Store } from './store.js'

export function createStore (config: Config): Store {
  const limits = { maxDevices: config.inventory.maxDevices, retentionSeconds: config.inventory.retentionDays * 86_400 }
  if (config.store.type === 'memory') {
    return { kind: 'memory', inventory: new MemoryInventory(limits), redis: undefined, ping: async () => {}, close: async () => {} }
  }
  const { url, keyPrefix, passwordEnv } = config.store.redis
  const redis = new RedisConnection(url, keyPrefix, passwordEnv ? process.env[passwordEnv] : undefined)
  return {
    kind: 'redis',
    inventory: failingAsUnavailable(new RedisInventory(redis, limits)),
    redis,
    ping: () => failingAsUnavailable(redis).ping(),
    close: async () => { redis.close() }
  }
}
