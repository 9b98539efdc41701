import { DEFAULT_INVENTORY, deviceKey, expires, type DeviceRecord, type InventoryLimits, type Store } from './store.js'

/** The embedded default: state lives in this process only. */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly #devices = new Map<string, { record: DeviceRecord, expires: number }>()
  readonly #inventory: InventoryLimits

  constructor (inventory: InventoryLimits = DEFAULT_INVENTORY) {
    this.#inventory = inventory
  }

  async getDevice (user: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const entry = this.#devices.get(deviceKey(user, deviceId))
    return entry && entry.expires >= Date.now() ? { ...entry.record } : undefined
  }

  async putDevice (record: DeviceRecord): Promise<boolean> {
    const key = deviceKey(record.user, record.deviceId)
    if (!this.#devices.has(key) && this.#devices.size >= this.#inventory.maxDevices) {
      this.sweep()
      if (this.#devices.size >= this.#inventory.maxDevices) return false
    }
    this.#devices.set(key, { record: { ...record }, expires: expires(record) ? Date.now() + this.#inventory.retentionSeconds * 1000 : Infinity })
    return true
  }

  async listDevices (): Promise<DeviceRecord[]> {
    const now = Date.now()
    return [...this.#devices.values()].filter(e => e.expires >= now).map(e => ({ ...e.record }))
  }

  readonly #values = new Map<string, { value: string, expires: number }>()
  readonly #hashes = new Map<string, Map<string, string>>()
  readonly #sets = new Map<string, Set<string>>()
  /** Expired values are dropped by a sweep, not only when read: ENS de-duplication marks are written once and never read again. */
  readonly #sweeper = setInterval(() => this.sweep(), 60_000).unref()

  /** Drops every expired value; returns how many. */
  sweep (now = Date.now()): number {
    let dropped = 0
    for (const [key, entry] of this.#values) if (entry.expires < now && this.#values.delete(key)) dropped++
    for (const [key, entry] of this.#devices) if (entry.expires < now && this.#devices.delete(key)) dropped++
    return dropped
  }

  async get (key: string): Promise<string | undefined> {
    const entry = this.#values.get(key)
    if (entry && entry.expires < Date.now()) this.#values.delete(key)
    return entry && entry.expires >= Date.now() ? entry.value : undefined
  }

  async set (key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.#values.set(key, { value, expires: ttlSeconds ? Date.now() + ttlSeconds * 1000 : Infinity })
  }

  async setIfAbsent (key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (await this.get(key) !== undefined) return false
    await this.set(key, value, ttlSeconds)
    return true
  }

  async del (key: string): Promise<void> {
    this.#values.delete(key)
    this.#hashes.delete(key)
    this.#sets.delete(key)
  }

  async hset (key: string, field: string, value: string): Promise<void> {
    let hash = this.#hashes.get(key)
    if (!hash) this.#hashes.set(key, hash = new Map())
    hash.set(field, value)
  }

  async hgetall (key: string): Promise<Record<string, string>> {
    return Object.fromEntries(this.#hashes.get(key) ?? [])
  }

  async hdel (key: string, field: string): Promise<void> {
    this.#hashes.get(key)?.delete(field)
  }

  async sadd (key: string, member: string): Promise<void> {
    let set = this.#sets.get(key)
    if (!set) this.#sets.set(key, set = new Set())
    set.add(member)
  }

  async srem (key: string, member: string): Promise<void> {
    this.#sets.get(key)?.delete(member)
  }

  async smembers (key: string): Promise<string[]> {
    return [...this.#sets.get(key) ?? []]
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
  }
}
