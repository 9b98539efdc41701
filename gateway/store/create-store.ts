import type { Config } from '../config/schema.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore } from './redis-store.js'
import type { Store } from './store.js'

export function createStore (config: Config): Store {
  const inventory = { maxDevices: config.inventory.maxDevices, retentionSeconds: config.inventory.retentionDays * 86_400 }
  if (config.store.type === 'memory') return new MemoryStore(inventory)
  const { url, keyPrefix, passwordEnv } = config.store.redis
  return new RedisStore(url, keyPrefix, passwordEnv ? process.env[passwordEnv] : undefined, inventory)
}
