/** DeviceInformation from a Settings or Provision request (MS-ASCMD 2.2.3.56). */
export interface DeviceInformation {
  model?: string | undefined
  os?: string | undefined
  friendlyName?: string | undefined
  imei?: string | undefined
  osLanguage?: string | undefined
  phoneNumber?: string | undefined
  userAgent?: string | undefined
  mobileOperator?: string | undefined
}

/** What the gateway knows about one ActiveSync device (the device inventory). */
export interface DeviceRecord extends DeviceInformation {
  deviceId: string
  user?: string | undefined
  deviceType?: string | undefined
  /** Admin decision: none yet, approved (lifts quarantine) or blocked (always). Quarantined = pending. */
  state: 'seen' | 'quarantined' | 'approved' | 'blocked'
  rule?: string | undefined
  firstSeen: string
  lastSeen: string
}

/**
 * Shared state behind one interface with two backends: memory (the embedded default) and Redis (every
 * gateway sharing it sees the same devices and decisions at once).
 */
export interface Store {
  readonly kind: 'memory' | 'redis'
  getDevice: (deviceId: string) => Promise<DeviceRecord | undefined>
  putDevice: (record: DeviceRecord) => Promise<void>
  listDevices: () => Promise<DeviceRecord[]>
  /** Plain keys for ENS (keys are namespaced by the caller; the Redis backend adds its prefix). */
  get: (key: string) => Promise<string | undefined>
  set: (key: string, value: string, ttlSeconds?: number) => Promise<void>
  /** Sets only when absent; true when this call set it (de-duplication marks). */
  setIfAbsent: (key: string, value: string, ttlSeconds: number) => Promise<boolean>
  del: (key: string) => Promise<void>
  /** Small hashes: the devices of a user. */
  hset: (key: string, field: string, value: string) => Promise<void>
  hgetall: (key: string) => Promise<Record<string, string>>
  hdel: (key: string, field: string) => Promise<void>
  /** Sets of ids: every subscription, for the heartbeat watchdog. */
  sadd: (key: string, member: string) => Promise<void>
  srem: (key: string, member: string) => Promise<void>
  smembers: (key: string) => Promise<string[]>
  /** Resolves when the backend answers; rejects when it is unreachable. */
  ping: () => Promise<void>
  close: () => Promise<void>
}

/** Device ids compare case-insensitively; the key is the lower-case form. */
export function deviceKey (deviceId: string): string {
  return deviceId.toLowerCase()
}
