import { DEFAULT_INVENTORY, deviceKey, expires, type DeviceInventory, type DeviceRecord, type InventoryLimits } from './device-inventory.js'
import type { RedisConnection } from './redis-connection.js'

/** The inventory on Redis. Keys: `<prefix>device:<account>:<deviceid>` holds a record as JSON, the set `<prefix>devices` lists them. */
export class RedisInventory implements DeviceInventory {
  readonly #redis: RedisConnection
  readonly #limits: InventoryLimits

  constructor (redis: RedisConnection, limits: InventoryLimits = DEFAULT_INVENTORY) {
    this.#redis = redis
    this.#limits = limits
  }

  async get (user: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const json = await this.#redis.client().get(this.#record(deviceKey(user, deviceId)))
    return json ? JSON.parse(json) as DeviceRecord : undefined
  }

  async put (record: DeviceRecord): Promise<boolean> {
    const key = deviceKey(record.user, record.deviceId)
    const index = this.#index()
    const redis = this.#redis.client()
    if (!await redis.sismember(index, key) && await redis.scard(index) >= this.#limits.maxDevices) {
      await this.list() // drops expired records from the index
      if (await redis.scard(index) >= this.#limits.maxDevices) return false
    }
    const json = JSON.stringify(record)
    const write = redis.multi()
    if (expires(record)) write.set(this.#record(key), json, 'EX', this.#limits.retentionSeconds)
    else write.set(this.#record(key), json)
    await write.sadd(index, key).exec()
    return true
  }

  async list (): Promise<DeviceRecord[]> {
    const redis = this.#redis.client()
    const ids = await redis.smembers(this.#index())
    if (ids.length === 0) return []
    const values = await redis.mget(ids.map(id => this.#record(id)))
    const gone = ids.filter((_id, i) => !values[i])
    if (gone.length > 0) await redis.srem(this.#index(), ...gone) // expired records leave the index too
    return values.flatMap(v => v ? [JSON.parse(v) as DeviceRecord] : [])
  }

  #record (key: string): string { return `${this.#redis.prefix}device:${key}` }
  #index (): string { return `${this.#redis.prefix}devices` }
}
