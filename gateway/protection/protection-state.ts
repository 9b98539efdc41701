/** Which of a user's counters a request counts against: from a device and network that succeeded before, or not. */
export type Familiarity = 'familiar' | 'unfamiliar'

export interface GoodCredential { cred: string, at: number }

/** What the admin API lists (fingerprint ids only, never a credential). */
export interface ProtectionSnapshot {
  lockedUsers: Array<{ user: string, traffic: Familiarity, until: string }>
  bannedClients: Array<{ client: string, until: string }>
  staleDevices: Array<{ user: string, deviceId: string, since: string }>
  refusedPasswords: Array<{ fingerprint: string, until: string }>
}

/** Everything a check reads about one attempt, in one read (one round trip on Redis). */
export interface AttemptView {
  clientBannedUntil: number | undefined
  passwordBlockedUntil: number | undefined
  /** When the credential was refused, if it is known-bad. */
  badSince: number | undefined
  stale: boolean
  good: GoodCredential[]
  familiar: { devices: string[], networks: string[] }
  lockedUntil: Record<Familiarity, number | undefined>
  /** Whether failures are being counted for the account (a success must reset them). */
  failing: boolean
}

/** What a view is read for: the account, the client network, and the attempt's fingerprints and device. */
export interface AttemptKeys { account: string, client: string, cred: string | undefined, pw: string | undefined, deviceId: string | undefined }

/**
 * Account protection's shared state, by what it means: refused credentials (by keyed fingerprint),
 * what succeeded for each account, failure counters in sliding windows, locks, bans and stale devices.
 * Two implementations: memory-protection-state.ts and redis-protection-state.ts (every Redis key name
 * of protection lives there; counters are updated atomically so that several gateways share them).
 * Accounts are lower-case account names; clients are networks (gateway/net/networks.ts).
 */
export interface ProtectionState {
  /** One read of everything the checks need for an attempt. */
  view: (keys: AttemptKeys) => Promise<AttemptView>
  /** A refused credential: when it was refused, or undefined. */
  badCredential: (cred: string) => Promise<number | undefined>
  markBadCredential: (account: string, cred: string, ttlSeconds: number) => Promise<void>
  /** Lets a refused credential through once per interval (set-if-absent); true for the one that may go. */
  claimRetry: (cred: string, intervalSeconds: number) => Promise<boolean>
  forgetBadCredential: (account: string, cred: string) => Promise<void>

  /** What succeeded for the account: its last credentials (newest last), devices and networks (FIFO). */
  recordSuccess: (account: string, cred: string | undefined, deviceId: string | undefined, network: string, familiarSize: number) => Promise<void>
  goodCredentials: (account: string) => Promise<GoodCredential[]>
  familiar: (account: string) => Promise<{ devices: string[], networks: string[] }>

  /** Adds a failure that reached the directory; returns the failures within the window. */
  addUserFailure: (account: string, traffic: Familiarity, windowSeconds: number) => Promise<number>
  userLockedUntil: (account: string, traffic: Familiarity) => Promise<number | undefined>
  /** Locks for base × 2^(locks so far), capped; returns until when. */
  lockUser: (account: string, traffic: Familiarity, baseSeconds: number, maxSeconds: number) => Promise<number>

  /** Adds a failing account (weight 1 or 2) for a client; returns the weighted distinct accounts in the window. */
  addClientFailure: (client: string, account: string, weight: 1 | 2, windowSeconds: number) => Promise<number>
  clientBannedUntil: (client: string) => Promise<number | undefined>
  banClient: (client: string, baseSeconds: number, maxSeconds: number) => Promise<number>

  /** Adds an account a password failed for; returns the distinct accounts in the window. */
  addPasswordFailure: (password: string, account: string, windowSeconds: number) => Promise<number>
  passwordBlockedUntil: (password: string) => Promise<number | undefined>
  blockPassword: (password: string, ttlSeconds: number) => Promise<void>

  markStale: (account: string, deviceId: string) => Promise<void>
  isStale: (account: string, deviceId: string) => Promise<boolean>
  clearStale: (account: string, deviceId: string) => Promise<void>

  /**
   * Takes a token from a bucket (GCRA: one token every `intervalMs`, `burst` at most), atomically;
   * returns 0 when allowed, else how many ms until a token is there.
   */
  take: (bucket: string, intervalMs: number, burst: number) => Promise<number>

  snapshot: () => Promise<ProtectionSnapshot>
  /** Clears the account's locks, counters, refused credentials and stale devices; false when there was nothing. */
  unlockUser: (account: string) => Promise<boolean>
  unbanClient: (client: string) => Promise<boolean>
}

/** How long what succeeded is remembered (familiar devices and networks, good credentials). */
export const REMEMBER_SECONDS = 30 * 86_400
/** Good credentials kept per account: enough to tell "an older password" from "the current one". */
export const GOOD_CREDENTIALS_KEPT = 3

/** `value` appended to a first-in first-out list of at most `size` distinct entries. */
export function remember (list: string[], value: string | undefined, size: number): string[] {
  if (value === undefined) return list
  return [...list.filter(v => v !== value), value].slice(-size)
}
