import type { Config } from '../config/schema.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore } from './redis-store.js'
import { StoreUnavailableError, type Store } from './store.js'

export function createStore (config: Config): Store {
  const inventory = { maxDevices: config.inventory.maxDevices, retentionSeconds: config.inventory.retentionDays * 86_400 }
  if (config.store.type === 'memory') return new MemoryStore(inventory)
  const { url, keyPrefix, passwordEnv } = config.store.redis
  return failingAsUnavailable(new RedisStore(url, keyPrefix, passwordEnv ? process.env[passwordEnv] : undefined, inventory))
}

/**
 * Every failure of a store call becomes StoreUnavailableError, whatever the client library threw
 * (a refused connection, a timeout, a closed stream): callers decide on one error, in one place.
 */
function failingAsUnavailable (store: Store): Store {
  return new Proxy(store, {
    get (target, property) {
      const value = Reflect.get(target, property, target) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: Error) => {
        throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`store call failed: ${err.message}`)
      })
    }
  })
}
