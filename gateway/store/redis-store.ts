import { Redis } from 'ioredis'
import { DEFAULT_INVENTORY, deviceKey, expires, StoreUnavailableError, type DeviceRecord, type InventoryLimits, type Store } from './store.js'

/**
 * Redis backend (ioredis). Keys: `<prefix>device:<id>` holds a device record as JSON, the set
 * `<prefix>devices` lists them. No credential is ever stored here.
 */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly #redis: Redis
  readonly #prefix: string

  readonly #inventory: InventoryLimits
  #everReady = false

  constructor (url: string, prefix: string, password?: string, inventory: InventoryLimits = DEFAULT_INVENTORY) {
    this.#inventory = inventory
    // commandTimeout: an answer that does not come within a second is an outage, not a slow request.
    this.#redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true, commandTimeout: 1000, ...(password ? { password } : {}) })
    this.#redis.on('error', () => {}) // reported through ping() and /readyz; ioredis reconnects by itself
    this.#redis.on('ready', () => { this.#everReady = true })
    this.#prefix = prefix
  }

  async getDevice (user: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const json = await this.#client().get(`${this.#prefix}device:${deviceKey(user, deviceId)}`)
    return json ? JSON.parse(json) as DeviceRecord : undefined
  }

  async putDevice (record: DeviceRecord): Promise<boolean> {
    const key = deviceKey(record.user, record.deviceId)
    const index = `${this.#prefix}devices`
    if (!await this.#client().sismember(index, key) && await this.#client().scard(index) >= this.#inventory.maxDevices) {
      await this.listDevices() // drops expired records from the index
      if (await this.#client().scard(index) >= this.#inventory.maxDevices) return false
    }
    const json = JSON.stringify(record)
    const write = this.#client().multi()
    if (expires(record)) write.set(`${this.#prefix}device:${key}`, json, 'EX', this.#inventory.retentionSeconds)
    else write.set(`${this.#prefix}device:${key}`, json)
    await write.sadd(index, key).exec()
    return true
  }

  async listDevices (): Promise<DeviceRecord[]> {
    const ids = await this.#client().smembers(`${this.#prefix}devices`)
    if (ids.length === 0) return []
    const values = await this.#client().mget(ids.map(id => `${this.#prefix}device:${id}`))
    const gone = ids.filter((_id, i) => !values[i])
    if (gone.length > 0) await this.#client().srem(`${this.#prefix}devices`, ...gone) // expired records leave the index too
    return values.flatMap(v => v ? [JSON.parse(v) as DeviceRecord] : [])
  }

  async get (key: string): Promise<string | undefined> {
    return await this.#client().get(this.#prefix + key) ?? undefined
  }

  async set (key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (ttlSeconds) await this.#client().set(this.#prefix + key, value, 'EX', ttlSeconds)
    else await this.#client().set(this.#prefix + key, value)
  }

  async setIfAbsent (key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return await this.#client().set(this.#prefix + key, value, 'EX', ttlSeconds, 'NX') === 'OK'
  }

  async del (key: string): Promise<void> {
    await this.#client().del(this.#prefix + key)
  }

  async hset (key: string, field: string, value: string): Promise<void> {
    await this.#client().hset(this.#prefix + key, field, value)
  }

  async hgetall (key: string): Promise<Record<string, string>> {
    return await this.#client().hgetall(this.#prefix + key)
  }

  async hdel (key: string, field: string): Promise<void> {
    await this.#client().hdel(this.#prefix + key, field)
  }

  async sadd (key: string, member: string): Promise<void> {
    await this.#client().sadd(this.#prefix + key, member)
  }

  async srem (key: string, member: string): Promise<void> {
    await this.#client().srem(this.#prefix + key, member)
  }

  async smembers (key: string): Promise<string[]> {
    return await this.#client().smembers(this.#prefix + key)
  }

  async ping (): Promise<void> {
    await this.#client().ping()
  }

  async close (): Promise<void> {
    this.#redis.disconnect()
  }

  /**
   * The connection, or at once an error while it is down: during an outage every call fails fast
   * instead of queueing behind reconnect attempts (before the first connection, calls wait for it).
   */
  #client (): Redis {
    if (this.#everReady && this.#redis.status !== 'ready') throw new StoreUnavailableError(`Redis is ${this.#redis.status}`)
    return this.#redis
  }
}
