import { DEFAULT_INVENTORY, deviceKey, expires, type DeviceInventory, type DeviceRecord, type InventoryLimits } from './device-inventory.js'

/** The inventory in this process's memory (the embedded default). Records are copied in and out. */
export class MemoryInventory implements DeviceInventory {
  readonly #devices = new Map<string, { record: DeviceRecord, expires: number }>()
  readonly #limits: InventoryLimits

  constructor (limits: InventoryLimits = DEFAULT_INVENTORY) {
    this.#limits = limits
  }

  async get (user: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const entry = this.#devices.get(deviceKey(user, deviceId))
    return entry && entry.expires >= Date.now() ? { ...entry.record } : undefined
  }

  async put (record: DeviceRecord): Promise<boolean> {
    const key = deviceKey(record.user, record.deviceId)
    if (!this.#devices.has(key) && this.#devices.size >= this.#limits.maxDevices) {
      this.sweep()
      if (this.#devices.size >= this.#limits.maxDevices) return false
    }
    this.#devices.set(key, { record: { ...record }, expires: expires(record) ? Date.now() + this.#limits.retentionSeconds * 1000 : Infinity })
    return true
  }

  async list (): Promise<DeviceRecord[]> {
    const now = Date.now()
    return [...this.#devices.values()].filter(e => e.expires >= now).map(e => ({ ...e.record }))
  }

  /** Drops expired records; returns how many. */
  sweep (now = Date.now()): number {
    let dropped = 0
    for (const [key, entry] of this.#devices) if (entry.expires < now && this.#devices.delete(key)) dropped++
    return dropped
  }
}
