import { accountName } from '../../policies/identity.js'

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

/**
 * What the gateway knows about one ActiveSync device of one mailbox (the device inventory), keyed by
 * (account, DeviceId) as Exchange's allow lists are per mailbox: another user with the same DeviceId
 * is another device. Written only for requests the upstream authenticated (and quarantined devices
 * whose credentials were verified), so nobody unauthenticated can create or change one.
 */
export interface DeviceRecord extends DeviceInformation {
  deviceId: string
  /** The user as the device authenticated (`alice`, `CORP\\alice` or `alice@corp.example`). */
  user: string
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
  getDevice: (user: string, deviceId: string) => Promise<DeviceRecord | undefined>
  /**
   * Creates or replaces a record; untouched records expire after the inventory's retention, except
   * those an administrator decided on. False when the inventory is full and the record is new.
   */
  putDevice: (record: DeviceRecord) => Promise<boolean>
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

/** The store did not answer (Redis down or unreachable): one error for every way that happens. */
export class StoreUnavailableError extends Error {
  readonly code = 'GW_STORE_UNAVAILABLE'
}

/** How large the inventory may grow and how long an untouched record is kept. */
export interface InventoryLimits { maxDevices: number, retentionSeconds: number }
export const DEFAULT_INVENTORY: InventoryLimits = { maxDevices: 100_000, retentionSeconds: 90 * 86_400 }

/** Accounts and device ids compare case-insensitively; the key is `account:deviceid`, lower-case. */
export function deviceKey (user: string, deviceId: string): string {
  return `${accountName(user).toLowerCase()}:${deviceId.toLowerCase()}`
}

/** Records an administrator decided on are kept until an administrator changes them. */
export function expires (record: DeviceRecord): boolean {
  return record.state !== 'approved' && record.state !== 'blocked'
}
