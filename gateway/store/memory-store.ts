import { deviceKey, type DeviceRecord, type Store } from './store.js'

/** The embedded default: state lives in this process only. */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly #devices = new Map<string, DeviceRecord>()

  async getDevice (deviceId: string): Promise<DeviceRecord | undefined> {
    const record = this.#devices.get(deviceKey(deviceId))
    return record && { ...record }
  }

  async putDevice (record: DeviceRecord): Promise<void> {
    this.#devices.set(deviceKey(record.deviceId), { ...record })
  }

  async listDevices (): Promise<DeviceRecord[]> {
    return [...this.#devices.values()].map(r => ({ ...r }))
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
