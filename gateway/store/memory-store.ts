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

  async ping (): Promise<void> {}

  async close (): Promise<void> {}
}
