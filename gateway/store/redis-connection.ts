import { Redis } from 'ioredis'
import { StoreUnavailableError } from './store-unavailable.js'

/**
 * The one Redis connection of a gateway (ioredis) and its key prefix; the domain stores on it
 * (redis-inventory.ts, ens/state/redis-ens-state.ts) own their key names. No credential is ever stored.
 */
export class RedisConnection {
  readonly prefix: string
  readonly #redis: Redis
  #everReady = false

  constructor (url: string, prefix: string, password?: string) {
    // commandTimeout: an answer that does not come within a second is an outage, not a slow request.
    this.#redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true, commandTimeout: 1000, ...(password ? { password } : {}) })
    this.#redis.on('error', () => {}) // reported through ping() and /readyz; ioredis reconnects by itself
    this.#redis.on('ready', () => { this.#everReady = true })
    this.prefix = prefix
  }

  /**
   * The connection, or at once an error while it is down: during an outage every call fails fast
   * instead of queueing behind reconnect attempts (before the first connection, calls wait for it).
   */
  client (): Redis {
    if (this.#everReady && this.#redis.status !== 'ready') throw new StoreUnavailableError(`Redis is ${this.#redis.status}`)
    return this.#redis
  }

  async ping (): Promise<void> {
    await this.client().ping()
  }

  close (): void {
    this.#redis.disconnect()
  }
}

/**
 * Every failure of a store call becomes StoreUnavailableError, whatever the client library threw
 * (a refused connection, a timeout, a closed stream): callers decide on one error, in one place.
 */
export function failingAsUnavailable<T extends object> (store: T): T {
  return new Proxy(store, {
    get (target, property) {
      const value = Reflect.get(target, property, target) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: Error) => {
        throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`store call failed: ${err.message}`, { cause: err })
      })
    }
  })
}
