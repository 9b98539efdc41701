import type { EnsState, StoredDevice, StoredKey, Subscription } from './ens-state.js'

interface Expiring<T> { value: T, expires: number }

/**
 * ENS's state in this process's memory (the embedded default). Values are copied in and out, as a
 * store would; expired entries are dropped by a sweep, not only when read (push claims are written
 * once and never read again).
 */
export class MemoryEnsState implements EnsState {
  readonly #keys = new Map<string, Expiring<StoredKey>>()
  readonly #retired = new Map<string, Expiring<StoredKey>>()
  readonly #subscriptions = new Map<string, Subscription>()
  readonly #current = new Map<string, string>()
  readonly #devices = new Map<string, Map<string, StoredDevice>>()
  readonly #claims = new Map<string, number>()
  readonly #sweeper = setInterval(() => this.sweep(), 60_000).unref()

  async currentKey (userId: string): Promise<StoredKey | undefined> { return live(this.#keys, userId) }
  async retiredKey (userId: string, keyId: string): Promise<StoredKey | undefined> { return live(this.#retired, `${userId}:${keyId}`) }

  async addKey (userId: string, key: StoredKey, ttlSeconds: number): Promise<boolean> {
    if (live(this.#keys, userId)) return false
    this.#keys.set(userId, expiring(key, ttlSeconds))
    return true
  }

  async setCurrentKey (userId: string, key: StoredKey, ttlSeconds: number): Promise<void> { this.#keys.set(userId, expiring(key, ttlSeconds)) }
  async retireKey (userId: string, key: StoredKey, ttlSeconds: number): Promise<void> { this.#retired.set(`${userId}:${key.keyId}`, expiring(key, ttlSeconds)) }

  async subscription (handle: string): Promise<Subscription | undefined> {
    const found = this.#subscriptions.get(handle)
    return found ? { ...found } : undefined
  }

  async putSubscription (subscription: Subscription): Promise<void> { this.#subscriptions.set(subscription.handle, { ...subscription }) }
  async removeSubscription (handle: string): Promise<void> { this.#subscriptions.delete(handle) }
  async subscriptionHandles (): Promise<string[]> { return [...this.#subscriptions.keys()] }
  async currentSubscription (userId: string): Promise<string | undefined> { return this.#current.get(userId) }
  async setCurrentSubscription (userId: string, handle: string): Promise<void> { this.#current.set(userId, handle) }

  async devices (userId: string): Promise<StoredDevice[]> { return [...this.#devices.get(userId)?.values() ?? []].map(d => ({ ...d })) }

  async device (userId: string, deviceId: string): Promise<StoredDevice | undefined> {
    const found = this.#devices.get(userId)?.get(deviceId)
    return found ? { ...found } : undefined
  }

  async putDevice (userId: string, device: StoredDevice): Promise<void> {
    let devices = this.#devices.get(userId)
    if (!devices) this.#devices.set(userId, devices = new Map())
    devices.set(device.id, { ...device })
  }

  async removeDevice (userId: string, deviceId: string): Promise<void> { this.#devices.get(userId)?.delete(deviceId) }
  async removeDevices (userId: string): Promise<void> { this.#devices.delete(userId) }

  async claimPush (userId: string, deviceId: string, itemId: string, ttlSeconds: number): Promise<boolean> {
    const key = claimKey(userId, deviceId, itemId)
    const until = this.#claims.get(key)
    if (until !== undefined && until >= Date.now()) return false
    this.#claims.set(key, Date.now() + ttlSeconds * 1000)
    return true
  }

  async releasePush (userId: string, deviceId: string, itemId: string): Promise<void> { this.#claims.delete(claimKey(userId, deviceId, itemId)) }

  /** Drops every expired entry; returns how many. */
  sweep (now = Date.now()): number {
    let dropped = 0
    for (const map of [this.#keys, this.#retired]) for (const [key, entry] of map) if (entry.expires < now && map.delete(key)) dropped++
    for (const [key, until] of this.#claims) if (until < now && this.#claims.delete(key)) dropped++
    return dropped
  }

  close (): void {
    clearInterval(this.#sweeper)
  }
}

function expiring<T extends object> (value: T, ttlSeconds: number): Expiring<T> {
  return { value: { ...value }, expires: Date.now() + ttlSeconds * 1000 }
}

function live<T extends object> (map: Map<string, Expiring<T>>, key: string): T | undefined {
  const entry = map.get(key)
  if (!entry) return undefined
  if (entry.expires < Date.now()) {
    map.delete(key)
    return undefined
  }
  return { ...entry.value }
}

function claimKey (userId: string, deviceId: string, itemId: string): string {
  return `${userId}\u0000${deviceId}\u0000${itemId}`
}
