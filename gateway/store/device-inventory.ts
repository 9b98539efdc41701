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
 * The device inventory: what the policy gate reads and writes, and what the admin API lists and
 * decides on. Two implementations: memory-inventory.ts and redis-inventory.ts (its key names live there).
 */
export interface DeviceInventory {
  get: (user: string, deviceId: string) => Promise<DeviceRecord | undefined>
  /**
   * Creates or replaces a record; untouched records expire after the inventory's retention, except
   * those an administrator decided on. False when the inventory is full and the record is new.
   */
  put: (record: DeviceRecord) => Promise<boolean>
  list: () => Promise<DeviceRecord[]>
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
