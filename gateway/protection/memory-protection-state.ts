import { GOOD_CREDENTIALS_KEPT, remember, type AttemptKeys, type AttemptView, type Familiarity, type GoodCredential, type ProtectionSnapshot, type ProtectionState } from './protection-state.js'

/** Protection's state in this process's memory (one gateway). Bounded: every map is capped and swept. */
export class MemoryProtectionState implements ProtectionState {
  readonly #bad = new Map<string, { account: string, since: number, until: number }>()
  readonly #retries = new Map<string, number>()
  readonly #good = new Map<string, GoodCredential[]>()
  readonly #familiar = new Map<string, { devices: string[], networks: string[] }>()
  readonly #windows = new Map<string, Map<string, number>>() // key → member → time
  readonly #locks = new Map<string, { until: number, count: number, countUntil: number }>()
  readonly #blockedPasswords = new Map<string, number>()
  readonly #stale = new Map<string, number>()
  readonly #buckets = new Map<string, number>() // bucket → theoretical arrival time of the next token
  readonly #sweeper = setInterval(() => this.sweep(), 60_000).unref()

  async view (keys: AttemptKeys): Promise<AttemptView> {
    const { account, client, cred, pw, deviceId } = keys
    return {
      clientBannedUntil: this.#lockedUntil(`client:${client}`),
      passwordBlockedUntil: pw === undefined ? undefined : await this.passwordBlockedUntil(pw),
      badSince: cred === undefined ? undefined : await this.badCredential(cred),
      stale: deviceId !== undefined && this.#stale.has(`${account}\u0000${deviceId}`),
      good: await this.goodCredentials(account),
      familiar: await this.familiar(account),
      lockedUntil: { familiar: this.#lockedUntil(`user:${account}:familiar`), unfamiliar: this.#lockedUntil(`user:${account}:unfamiliar`) },
      failing: this.#windows.has(`user:${account}:familiar`) || this.#windows.has(`user:${account}:unfamiliar`)
    }
  }

  async badCredential (cred: string): Promise<number | undefined> {
    const entry = this.#bad.get(cred)
    return entry && entry.until > Date.now() ? entry.since : undefined
  }

  async markBadCredential (account: string, cred: string, ttlSeconds: number): Promise<void> {
    const now = Date.now()
    this.#bad.set(cred, { account, since: this.#bad.get(cred)?.since ?? now, until: now + ttlSeconds * 1000 })
    this.#cap() // a spray from many addresses adds one per guess: bounded like every other map here
  }

  async claimRetry (cred: string, intervalSeconds: number): Promise<boolean> {
    const now = Date.now()
    if ((this.#retries.get(cred) ?? 0) > now) return false
    this.#retries.set(cred, now + intervalSeconds * 1000)
    return true
  }

  async forgetBadCredential (_account: string, cred: string): Promise<void> {
    this.#bad.delete(cred)
    this.#retries.delete(cred)
  }

  async recordSuccess (account: string, cred: string | undefined, deviceId: string | undefined, network: string, familiarSize: number): Promise<void> {
    if (cred) {
      const good = (this.#good.get(account) ?? []).filter(g => g.cred !== cred)
      good.push({ cred, at: Date.now() })
      this.#good.set(account, good.slice(-GOOD_CREDENTIALS_KEPT))
    }
    const known = this.#familiar.get(account) ?? { devices: [], networks: [] }
    this.#familiar.set(account, { devices: remember(known.devices, deviceId, familiarSize), networks: remember(known.networks, network, familiarSize) })
    this.#windows.delete(`user:${account}:familiar`) // a success resets the directory's count too
    this.#windows.delete(`user:${account}:unfamiliar`)
    this.#cap()
  }

  async goodCredentials (account: string): Promise<GoodCredential[]> { return [...this.#good.get(account) ?? []] }

  async familiar (account: string): Promise<{ devices: string[], networks: string[] }> {
    const known = this.#familiar.get(account)
    return { devices: [...known?.devices ?? []], networks: [...known?.networks ?? []] }
  }

  async addUserFailure (account: string, traffic: Familiarity, windowSeconds: number): Promise<number> {
    return this.#add(`user:${account}:${traffic}`, `${Date.now()}:${Math.random()}`, windowSeconds)
  }

  async userLockedUntil (account: string, traffic: Familiarity): Promise<number | undefined> { return this.#lockedUntil(`user:${account}:${traffic}`) }

  async lockUser (account: string, traffic: Familiarity, baseSeconds: number, maxSeconds: number): Promise<number> {
    return this.#lock(`user:${account}:${traffic}`, baseSeconds, maxSeconds)
  }

  async addClientFailure (client: string, account: string, weight: 1 | 2, windowSeconds: number): Promise<number> {
    if (weight === 2) this.#add(`client:${client}`, `${account}#2`, windowSeconds)
    return this.#add(`client:${client}`, account, windowSeconds)
  }

  async clientBannedUntil (client: string): Promise<number | undefined> { return this.#lockedUntil(`client:${client}`) }
  async banClient (client: string, baseSeconds: number, maxSeconds: number): Promise<number> { return this.#lock(`client:${client}`, baseSeconds, maxSeconds) }

  async addPasswordFailure (password: string, account: string, windowSeconds: number): Promise<number> {
    return this.#add(`password:${password}`, account, windowSeconds)
  }

  async passwordBlockedUntil (password: string): Promise<number | undefined> {
    const until = this.#blockedPasswords.get(password)
    return until !== undefined && until > Date.now() ? until : undefined
  }

  async blockPassword (password: string, ttlSeconds: number): Promise<void> { this.#blockedPasswords.set(password, Date.now() + ttlSeconds * 1000) }

  async markStale (account: string, deviceId: string): Promise<void> { if (!this.#stale.has(`${account}\u0000${deviceId}`)) this.#stale.set(`${account}\u0000${deviceId}`, Date.now()) }
  async isStale (account: string, deviceId: string): Promise<boolean> { return this.#stale.has(`${account}\u0000${deviceId}`) }
  async clearStale (account: string, deviceId: string): Promise<void> { this.#stale.delete(`${account}\u0000${deviceId}`) }

  async take (bucket: string, intervalMs: number, burst: number): Promise<number> {
    const now = Date.now()
    const next = Math.max(this.#buckets.get(bucket) ?? now, now) + intervalMs
    if (next - now > intervalMs * burst) return next - now - intervalMs * burst
    this.#buckets.delete(bucket) // re-inserted last: the oldest buckets are the first dropped when capped
    this.#buckets.set(bucket, next)
    while (this.#buckets.size > MAX_ENTRIES) this.#buckets.delete(this.#buckets.keys().next().value as string)
    return 0
  }

  async snapshot (): Promise<ProtectionSnapshot> {
    const now = Date.now()
    const snapshot: ProtectionSnapshot = { lockedUsers: [], bannedClients: [], staleDevices: [], refusedPasswords: [] }
    for (const [key, lock] of this.#locks) {
      if (lock.until <= now) continue
      const until = new Date(lock.until).toISOString()
      const [kind, ...rest] = key.split(':')
      if (kind === 'client') snapshot.bannedClients.push({ client: rest.join(':'), until })
      else snapshot.lockedUsers.push({ user: rest.slice(0, -1).join(':'), traffic: rest.at(-1) as Familiarity, until })
    }
    for (const [key, since] of this.#stale) {
      const [user = '', deviceId = ''] = key.split('\u0000')
      snapshot.staleDevices.push({ user, deviceId, since: new Date(since).toISOString() })
    }
    for (const [fingerprint, until] of this.#blockedPasswords) if (until > now) snapshot.refusedPasswords.push({ fingerprint: fingerprint.slice(0, 16), until: new Date(until).toISOString() })
    return snapshot
  }

  async unlockUser (account: string): Promise<boolean> {
    let found = false
    for (const traffic of ['familiar', 'unfamiliar']) {
      found = this.#locks.delete(`user:${account}:${traffic}`) || found
      this.#windows.delete(`user:${account}:${traffic}`)
    }
    for (const [cred, entry] of this.#bad) if (entry.account === account && this.#bad.delete(cred)) found = true
    for (const key of this.#stale.keys()) if (key.startsWith(`${account}\u0000`) && this.#stale.delete(key)) found = true
    return found
  }

  async unbanClient (client: string): Promise<boolean> {
    this.#windows.delete(`client:${client}`)
    return this.#locks.delete(`client:${client}`)
  }

  /** Drops what expired; returns how many entries. */
  sweep (now = Date.now()): number {
    let dropped = 0
    for (const [key, entry] of this.#bad) if (entry.until <= now && this.#bad.delete(key)) dropped++
    for (const [key, until] of this.#retries) if (until <= now && this.#retries.delete(key)) dropped++
    for (const [key, lock] of this.#locks) if (lock.until <= now && lock.countUntil <= now && this.#locks.delete(key)) dropped++
    for (const [key, until] of this.#blockedPasswords) if (until <= now && this.#blockedPasswords.delete(key)) dropped++
    return dropped
  }

  close (): void {
    clearInterval(this.#sweeper)
  }

  #add (key: string, member: string, windowSeconds: number): number {
    const now = Date.now()
    let window = this.#windows.get(key)
    if (!window) this.#windows.set(key, window = new Map())
    window.set(member, now)
    for (const [m, at] of window) if (at <= now - windowSeconds * 1000) window.delete(m)
    this.#cap()
    return window.size
  }

  #lockedUntil (key: string): number | undefined {
    const lock = this.#locks.get(key)
    return lock && lock.until > Date.now() ? lock.until : undefined
  }

  #lock (key: string, baseSeconds: number, maxSeconds: number): number {
    const now = Date.now()
    const previous = this.#locks.get(key)
    const count = previous && previous.countUntil > now ? previous.count + 1 : 1
    const until = now + Math.min(baseSeconds * 2 ** (count - 1), maxSeconds) * 1000
    this.#locks.set(key, { until, count, countUntil: now + maxSeconds * 2000 }) // repeats within twice the cap keep doubling
    return until
  }

  /** Bounded memory under a flood of distinct users or addresses: the oldest windows go first. */
  #cap (): void {
    for (const map of [this.#windows, this.#good, this.#familiar, this.#bad, this.#retries, this.#locks, this.#blockedPasswords, this.#stale] as Array<Map<string, unknown>>) {
      while (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as string)
    }
  }
}

const MAX_ENTRIES = 200_000
