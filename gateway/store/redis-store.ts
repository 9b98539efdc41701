import { Redis } from 'ioredis'
import { deviceKey, type DeviceRecord, type Store } from './store.js'

/**
 * Redis backend (ioredis). Keys: `<prefix>device:<id>` holds a device record as JSON, the set
 * `<prefix>devices` lists them. No credential is ever stored here.
 */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly #redis: Redis
  readonly #prefix: string

  constructor (url: string, prefix: string, password?: string) {
    this.#redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true, ...(password ? { password } : {}) })
    this.#redis.on('error', () => {}) // reported through ping() and /readyz; ioredis reconnects by itself
    this.#prefix = prefix
  }

  async getDevice (deviceId: string): Promise<DeviceRecord | undefined> {
    const json = await this.#redis.get(`${this.#prefix}device:${deviceKey(deviceId)}`)
    return json ? JSON.parse(json) as DeviceRecord : undefined
  }

  async putDevice (record: DeviceRecord): Promise<void> {
    const key = deviceKey(record.deviceId)
    await this.#redis.multi().set(`${this.#prefix}device:${key}`, JSON.stringify(record)).sadd(`${this.#prefix}devices`, key).exec()
  }

  async listDevices (): Promise<DeviceRecord[]> {
    const ids = await this.#redis.smembers(`${this.#prefix}devices`)
    if (ids.length === 0) return []
    const values = await this.#redis.mget(ids.map(id => `${this.#prefix}device:${id}`))
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
