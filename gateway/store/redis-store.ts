import { Redis } from 'ioredis'
import { DEFAULT_INVENTORY, deviceKey, expires, type DeviceRecord, type InventoryLimits, type Store } from './store.js'

/**
 * Redis backend (ioredis). Keys: `<prefix>device:<id>` holds a device record as JSON, the set
 * `<prefix>devices` lists them. No credential is ever stored here.
 */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly #redis: Redis
  readonly #prefix: string

  readonly #inventory: InventoryLimits

  constructor (url: string, prefix: string, password?: string, inventory: InventoryLimits = DEFAULT_INVENTORY) {
    this.#inventory = inventory
    this.#redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true, ...(password ? { password } : {}) })
    this.#redis.on('error', () => {}) // reported through ping() and /readyz; ioredis reconnects by itself
    this.#prefix = prefix
  }

  async getDevice (user: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const json = await this.#redis.get(`${this.#prefix}device:${deviceKey(user, deviceId)}`)
    return json ? JSON.parse(json) as DeviceRecord : undefined
  }

  async putDevice (record: DeviceRecord): Promise<boolean> {
    const key = deviceKey(record.user, record.deviceId)
    const index = `${this.#prefix}devices`
    if (!await this.#redis.sismember(index, key) && await this.#redis.scard(index) >= this.#inventory.maxDevices) {
      await this.listDevices() // drops expired records from the index
      if (await this.#redis.scard(index) >= this.#inventory.maxDevices) return false
    }
    const json = JSON.stringify(record)
    const write = this.#redis.multi()
    if (expires(record)) write.set(`${this.#prefix}device:${key}`, json, 'EX', this.#inventory.retentionSeconds)
    else write.set(`${this.#prefix}device:${key}`, json)
    await write.sadd(index, key).exec()
    return true
  }

  async listDevices (): Promise<DeviceRecord[]> {
    const ids = await this.#redis.smembers(`${this.#prefix}devices`)
    if (ids.length === 0) return []
    const values = await this.#redis.mget(ids.map(id => `${this.#prefix}device:${id}`))
    const gone = ids.filter((_id, i) => !values[i])
    if (gone.length > 0) await this.#redis.srem(`${this.#prefix}devices`, ...gone) // expired records leave the index too
    return values.flatMap(v => v ? [JSON.parse(v) as DeviceRecord] : [])
  }

  async get (key: string): Promise<string | undefined> {
    return await this.#redis.get(this.#prefix + key) ?? undefined
  }

  async set (key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (ttlSeconds) await this.#redis.set(this.#prefix + key, value, 'EX', ttlSeconds)
    else await this.#redis.set(this.#prefix + key, value)
  }

  async setIfAbsent (key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return await this.#redis.set(this.#prefix + key, value, 'EX', ttlSeconds, 'NX') === 'OK'
  }

  async del (key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key)
  }

  async hset (key: string, field: string, value: string): Promise<void> {
    await this.#redis.hset(this.#prefix + key, field, value)
  }

  async hgetall (key: string): Promise<Record<string, string>> {
    return await this.#redis.hgetall(this.#prefix + key)
  }

  async hdel (key: string, field: string): Promise<void> {
    await this.#redis.hdel(this.#prefix + key, field)
  }

  async sadd (key: string, member: string): Promise<void> {
    await this.#redis.sadd(this.#prefix + key, member)
  }

  async srem (key: string, member: string): Promise<void> {
    await this.#redis.srem(this.#prefix + key, member)
  }

  async smembers (key: string): Promise<string[]> {
    return await this.#redis.smembers(this.#prefix + key)
  }

  async ping (): Promise<void> {
    await this.#redis.ping()
  }

  async close (): Promise<void> {
    this.#redis.disconnect()
  }
}
