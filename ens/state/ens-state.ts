import type { UserKeyPair } from '../crypto.js'
import type { PushDevice } from '../push/types.js'

export type StoredKey = UserKeyPair & { createdAt: string, used?: boolean }

export interface Subscription {
  handle: string
  userId: string
  /** sha256 of the lower-case account name whose credentials made it: devices follow the account. */
  account: string
  keyId: string
  secretHash: string
  subscriptionId: string
  watermark: string
  lastHeartbeat: number
  lastNudge?: number
}

/** A device in a user's list, with the hash of the subscription handle that proves it may leave. */
export type StoredDevice = PushDevice & { handleHash?: string }

/**
 * ENS's shared state by what it means: users' key pairs, push subscriptions, each user's devices and
 * the marks that de-duplicate pushes. Two implementations: memory-ens-state.ts and redis-ens-state.ts
 * (every Redis key name of ENS lives there). Nothing here is a password or the encrypted credentials.
 */
export interface EnsState {
  /** The user's current key pair. */
  currentKey: (userId: string) => Promise<StoredKey | undefined>
  /** A retired pair still in its grace period. */
  retiredKey: (userId: string, keyId: string) => Promise<StoredKey | undefined>
  /** Makes `key` current unless one exists (two gateways racing); true when this call did. */
  addKey: (userId: string, key: StoredKey, ttlSeconds: number) => Promise<boolean>
  setCurrentKey: (userId: string, key: StoredKey, ttlSeconds: number) => Promise<void>
  retireKey: (userId: string, key: StoredKey, ttlSeconds: number) => Promise<void>

  subscription: (handle: string) => Promise<Subscription | undefined>
  /** Creates or updates a subscription (and lists it for the heartbeat watchdog). */
  putSubscription: (subscription: Subscription) => Promise<void>
  removeSubscription: (handle: string) => Promise<void>
  /** Every listed subscription handle (the watchdog's round). */
  subscriptionHandles: () => Promise<string[]>
  /** The user's current subscription: older ones get Unsubscribe. */
  currentSubscription: (userId: string) => Promise<string | undefined>
  setCurrentSubscription: (userId: string, handle: string) => Promise<void>

  devices: (userId: string) => Promise<StoredDevice[]>
  device: (userId: string, deviceId: string) => Promise<StoredDevice | undefined>
  putDevice: (userId: string, device: StoredDevice) => Promise<void>
  removeDevice: (userId: string, deviceId: string) => Promise<void>
  removeDevices: (userId: string) => Promise<void>

  /** Claims the push of an item to a device (set-if-absent, so two gateways push once); true when this call did. */
  claimPush: (userId: string, deviceId: string, itemId: string, ttlSeconds: number) => Promise<boolean>
  releasePush: (userId: string, deviceId: string, itemId: string) => Promise<void>
}
