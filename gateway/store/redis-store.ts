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

  async ping (): Promise<void> {
    await this.#redis.ping()
  }

  async close (): Promise<void> {
    this.#redis.disconnect()
  }
}
