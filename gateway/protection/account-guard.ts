import type { ProtectionConfig } from '../config/schema.js'
import { ClientAddresses } from '../net/client-address.js'
import { networkOf } from '../net/networks.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import { StoreUnavailableError } from '../store/store-unavailable.js'
import type { CredentialPrints } from './fingerprints.js'
import type { AttemptView, Familiarity, ProtectionState } from './protection-state.js'

/** A request whose answer counts: it carried a password (Basic) or the last message of an NTLM handshake. */
export interface CredentialAttempt {
  service: string
  /** Lower-case account name: `alice`, `CORP\alice` and `alice@corp.example` are one account. */
  account: string
  deviceId: string | undefined
  client: string
  /** Basic only: NTLM proves nothing the gateway could fingerprint. */
  prints: CredentialPrints | undefined
  /** What the check read (answered() learns from it without reading again). */
  view?: AttemptView
}

export type RefusalReason = 'client_banned' | 'sprayed_password' | 'stale_device' | 'known_bad' | 'user_locked' | 'store_unavailable'

/** A refused attempt: 403 for a banned client, 503 when the store cannot be asked, else Exchange's own 401. */
export interface Refusal { reason: RefusalReason }

/** Credentials this process saw succeed, for when the store is down (bounded, recent). */
const RECENT_SUCCESSES = 10_000
const RECENT_SUCCESS_MS = 3_600_000
/** What succeeded is written again at most this often (its 30-day memory is refreshed, not rewritten per request). */
const RELEARN_MS = 86_400_000

/**
 * Keeps every account below the directory's lockout threshold (README, "Account protection"). Before a
 * credentialed request is forwarded, `check` refuses what would only cost the directory a bad attempt:
 * a banned client network, a sprayed password, a stale device's old password, a credential Exchange
 * refused (let through once per retry interval), a soft-locked account. `answered` learns from
 * Exchange's answer, and is awaited before a 401 reaches the client (a sequential attacker cannot race it).
 */
export class AccountGuard {
  readonly #state: ProtectionState
  readonly #config: ProtectionConfig
  readonly #metrics: Metrics
  readonly #log: Logger
  /** Networks never banned: the same CIDR matching as listen.trustedProxies. */
  readonly #exempt: ClientAddresses
  readonly #limits: Record<Familiarity, number>
  readonly #recent = new Map<string, number>()
  #storeDownWarned = false

  constructor (state: ProtectionState, config: ProtectionConfig, metrics: Metrics, log: Logger) {
    this.#state = state
    this.#config = config
    this.#metrics = metrics
    this.#log = log
    this.#exempt = new ClientAddresses(config.exempt)
    this.#limits = limitsOf(config)
  }

  async check (attempt: CredentialAttempt): Promise<Refusal | undefined> {
    try {
      const refusal = await this.#check(attempt)
      this.#storeDownWarned = false
      if (refusal) this.#refused(attempt, refusal.reason)
      return refusal
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err
      this.#storeDown(err)
      if (this.#config.onStoreUnavailable === 'open') return undefined
      const seen = attempt.prints && this.#recent.get(attempt.prints.cred)
      if (seen !== undefined && Date.now() - seen < RECENT_SUCCESS_MS) return undefined
      this.#refused(attempt, 'store_unavailable')
      return { reason: 'store_unavailable' }
    }
  }

  async #check (attempt: CredentialAttempt): Promise<Refusal | undefined> {
    const { prints } = attempt
    // One read for every check (one round trip on Redis); the answer's observer reuses it.
    const view = await this.#state.view({ account: attempt.account, client: this.#clientNetwork(attempt.client), cred: prints?.cred, pw: prints?.pw, deviceId: attempt.deviceId })
    attempt.view = view
    if (view.clientBannedUntil !== undefined && !this.#isExempt(attempt.client)) return { reason: 'client_banned' }
    if (prints) {
      if (view.passwordBlockedUntil !== undefined) return { reason: 'sprayed_password' }
      if (view.badSince !== undefined) {
        if (attempt.deviceId && view.stale) return { reason: 'stale_device' }
        // Once per interval the refused credential may go: a right password refused while others had
        // the account locked must recover after the unlock.
        if (!await this.#state.claimRetry(prints.cred, this.#config.badCredentials.retryMinutes * 60)) return { reason: 'known_bad' }
      }
    }
    if (view.lockedUntil[this.#familiarity(view.familiar, attempt)] !== undefined) return { reason: 'user_locked' }
    return undefined
  }

  /**
   * Exchange answered a counted request. A success teaches what is familiar; a 401 is recorded
   * everywhere it counts. Other statuses (403, 449, EAS-level errors) are no authentication answer.
   */
  async answered (attempt: CredentialAttempt, status: number): Promise<void> {
    try {
      if ((status >= 200 && status < 300) || status === 451) await this.#succeeded(attempt)
      else if (status === 401) await this.#failed(attempt)
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err
      this.#storeDown(err)
    }
  }

  async #succeeded (attempt: CredentialAttempt): Promise<void> {
    const { prints, account, deviceId, view } = attempt
    if (prints) this.#remember(prints.cred)
    if (view && this.#nothingToLearn(attempt, view)) return // the usual case: a known phone, no store write
    if (prints && (view ? view.badSince !== undefined : await this.#state.badCredential(prints.cred) !== undefined)) await this.#state.forgetBadCredential(account, prints.cred)
    if (deviceId && (view ? view.stale : await this.#state.isStale(account, deviceId))) {
      await this.#state.clearStale(account, deviceId)
      this.#log.info({ user: account, deviceId }, 'stale device has the new password')
    }
    await this.#state.recordSuccess(account, prints?.cred, deviceId, this.#familiarNetwork(attempt.client), this.#config.users.familiarSize)
  }

  async #failed (attempt: CredentialAttempt): Promise<void> {
    const state = this.#state
    const config = this.#config
    const { prints, account, deviceId } = attempt
    this.#metrics.authFailuresBy(attempt.service, prints ? 'password' : 'ntlm').inc()
    const good = attempt.view?.good ?? await state.goodCredentials(account)
    if (prints) {
      await state.markBadCredential(account, prints.cred, config.badCredentials.ttlHours * 3600)
      await state.claimRetry(prints.cred, config.badCredentials.retryMinutes * 60) // its next try comes one interval from now
      // Stale: this credential worked before, and another one of the same account worked since.
      const mine = good.find(g => g.cred === prints.cred)
      if (mine && deviceId && good.some(g => g.cred !== prints.cred && g.at > mine.at)) {
        await state.markStale(account, deviceId)
        this.#log.warn({ user: account, deviceId, service: attempt.service }, `protection: client=${attempt.client} user=${account} reason=stale_device`)
      }
    }
    const traffic = this.#familiarity(attempt.view?.familiar ?? await state.familiar(account), attempt)
    if (await state.addUserFailure(account, traffic, config.directory.observationWindowMinutes * 60) >= this.#limits[traffic]) {
      const until = await state.lockUser(account, traffic, config.users.lockMinutes * 60, config.users.maxLockMinutes * 60)
      this.#metrics.protectionLocksBy(`user_${traffic}`).inc()
      this.#log.warn({ user: account, traffic, until: new Date(until).toISOString() }, `protection: client=${attempt.client} user=${account} reason=user_locked`)
    }
    if (!this.#isExempt(attempt.client)) {
      const client = this.#clientNetwork(attempt.client)
      // A user name never seen to succeed weighs double: sprayers walk lists of guessed names.
      if (await state.addClientFailure(client, account, good.length === 0 ? 2 : 1, config.clients.windowMinutes * 60) >= config.clients.maxUsers) {
        const until = await state.banClient(client, config.clients.banMinutes * 60, config.clients.maxBanMinutes * 60)
        this.#metrics.protectionLocksBy('client').inc()
        this.#log.warn({ client, until: new Date(until).toISOString() }, `protection: client=${attempt.client} user=${account} reason=client_banned`)
      }
    }
    if (prints && await state.addPasswordFailure(prints.pw, account, config.passwords.windowMinutes * 60) >= config.passwords.maxUsers) {
      await state.blockPassword(prints.pw, config.passwords.blockHours * 3600)
      this.#metrics.protectionLocksBy('password').inc()
      this.#log.warn({ password: prints.pw.slice(0, 16) }, `protection: client=${attempt.client} user=${account} reason=sprayed_password`)
    }
  }

  /**
   * A success that teaches nothing new: the credential is the latest that succeeded (recently), the
   * device and network are familiar, nothing is refused, stale or being counted.
   */
  #nothingToLearn (attempt: CredentialAttempt, view: AttemptView): boolean {
    const latest = view.good.at(-1)
    if (attempt.prints && (latest?.cred !== attempt.prints.cred || Date.now() - latest.at > RELEARN_MS)) return false
    return view.badSince === undefined && !view.stale && !view.failing && this.#familiarity(view.familiar, attempt) === 'familiar' &&
      fresh(view.familiar.devices, attempt.deviceId, this.#config.users.familiarSize) && fresh(view.familiar.networks, this.#familiarNetwork(attempt.client), this.#config.users.familiarSize)
  }

  /** Familiar: the device (where the protocol names one) and the client network both succeeded for this account. */
  #familiarity (known: { devices: string[], networks: string[] }, attempt: CredentialAttempt): Familiarity {
    const network = known.networks.includes(this.#familiarNetwork(attempt.client))
    const device = attempt.deviceId === undefined || known.devices.includes(attempt.deviceId)
    return network && device && known.networks.length > 0 ? 'familiar' : 'unfamiliar'
  }

  #refused (attempt: CredentialAttempt, reason: RefusalReason): void {
    this.#metrics.protectionRefusalsBy(attempt.service, reason).inc()
    this.#log.info({ user: attempt.account, deviceId: attempt.deviceId, service: attempt.service }, `protection: client=${attempt.client} user=${attempt.account} reason=${reason}`)
  }

  #remember (cred: string): void {
    this.#recent.delete(cred)
    this.#recent.set(cred, Date.now())
    if (this.#recent.size > RECENT_SUCCESSES) this.#recent.delete(this.#recent.keys().next().value as string)
  }

  #storeDown (err: Error): void {
    if (this.#storeDownWarned) return
    this.#storeDownWarned = true
    this.#log.warn({ err: err.message, onStoreUnavailable: this.#config.onStoreUnavailable }, 'protection: store unavailable')
  }

  #clientNetwork (address: string): string {
    return networkOf(address, this.#config.clients.ipv4Prefix, this.#config.clients.ipv6Prefix)
  }

  /** Familiar networks are wider than banned ones: a phone moves within its carrier's /24 or a home /56. */
  #familiarNetwork (address: string): string {
    return networkOf(address, 24, 56)
  }

  #isExempt (address: string): boolean {
    return this.#exempt.isTrusted(address)
  }
}

/** Failures that may reach the directory per window before the account's traffic of that kind is answered locally. */
export function limitsOf (config: ProtectionConfig): Record<Familiarity, number> {
  const threshold = config.directory.lockoutThreshold
  return {
    unfamiliar: config.users.unfamiliarLimit ?? Math.max(1, Math.floor(threshold / 2)),
    familiar: config.users.familiarLimit ?? Math.max(1, threshold - 2)
  }
}

/** A remembered entry that need not be written again: the newest, or in a list not full enough to evict it. */
function fresh (list: readonly string[], value: string | undefined, size: number): boolean {
  return value === undefined || list.at(-1) === value || list.length < size
}
