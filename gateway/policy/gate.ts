import { createHash } from 'node:crypto'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { Identified } from '../protocols/identify.js'
import { StoreHealth } from '../store/store-health.js'
import type { DeviceInventory, DeviceRecord } from '../store/device-inventory.js'
import type { ClientIdentity, Decision } from '../../policies/identity.js'
import type { PolicyHolder } from './policy-holder.js'

/** lastSeen is written back at most this often per device (one store write per request would be waste). */
const TOUCH_EVERY_MS = 60_000
/** A quarantined device whose credentials did not verify is not asked about again for this long. */
const VERIFY_AGAIN_MS = 60_000
const MAX_PENDING_VERIFICATIONS = 10_000

/** Schemes whose credentials the upstream checks on every request (NTLM/Negotiate authenticate a connection instead). */
const PER_REQUEST_SCHEMES = new Set(['basic', 'bearer'])

/**
 * Asks the upstream whether `authorization` opens the mailbox, without forwarding the request (for
 * ActiveSync, an OPTIONS that Exchange answers 200 only to valid credentials).
 */
export type CredentialCheck = (upstream: string, authorization: string) => Promise<boolean>

/** What the gate needs of the request it admits, and the one field it sets (the inventory's observer). */
export interface AdmissionRequest {
  readonly req: { readonly headers: { readonly authorization?: string | undefined } }
  readonly pool: { readonly name: string } | undefined
  readonly longPollMs: number | undefined
  onAnswered: ((status: number) => void) | undefined
}

/** The gate's verdict: a decision of the policy, or that the store could not be asked (store.onUnavailable: closed). */
export type Verdict = Decision | { action: 'unavailable' }

/**
 * Applies the policy to an identified request: admin decisions stored per (user, device) first
 * (blocked always wins, approved lifts a quarantine), then the rules. Returns the verdict and writes
 * no answer: the pipeline's admit stage turns a refusal into the protocol's reply.
 *
 * The inventory is written only for what the upstream authenticated: a forwarded request's record is
 * created or refreshed once the upstream answered it 2xx, and a quarantined device (never forwarded)
 * enters the queue only after the upstream confirmed its credentials. So nobody unauthenticated can
 * add a record, fill the store, or change what a rule reads for someone else's device.
 */
export class PolicyGate {
  readonly #policies: PolicyHolder
  readonly #inventory: DeviceInventory
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #checkCredentials: CredentialCheck
  readonly #storeHealth: StoreHealth
  readonly #onStoreUnavailable: 'open' | 'closed'
  /** Credentials (their hash) → when they last failed to verify. */
  readonly #unverified = new Map<string, number>()
  #fullWarned = false

  constructor (policies: PolicyHolder, inventory: DeviceInventory, metrics: Metrics, log: Logger, checkCredentials: CredentialCheck, onStoreUnavailable: 'open' | 'closed' = 'closed') {
    this.#policies = policies
    this.#inventory = inventory
    this.#metrics = metrics
    this.#log = log
    this.#checkCredentials = checkCredentials
    this.#storeHealth = new StoreHealth(log)
    this.#onStoreUnavailable = onStoreUnavailable
  }

  /** Whether a rule of the policy in force reads `field`. */
  reads (field: keyof ClientIdentity): boolean {
    return this.#policies.current.reads(field)
  }

  /** The policy's decision alone, counted: for requests without a device record (the ENS device API). */
  decide (identity: ClientIdentity): Decision {
    const decision = this.#policies.current.decide(identity)
    this.#metrics.policyDecisionsBy(decision.rule, decision.action).inc()
    if (decision.flags) this.#flagged(decision.flags, identity)
    return decision
  }

  async admit (ctx: AdmissionRequest, who: Identified): Promise<Verdict> {
    const { identity } = who
    const { deviceId, user } = identity
    let record: DeviceRecord | undefined
    try {
      record = deviceId && user ? await this.#inventory.get(user, deviceId) : undefined
      this.#storeHealth.succeeded()
    } catch (err) {
      // The one place a store failure is decided: closed answers 503 + Retry-After in the protocol's
      // form (never a 500); open goes on with the rules alone.
      this.#storeHealth.failed(err)
      if (this.#onStoreUnavailable === 'closed') return UNAVAILABLE
    }
    identity.deviceModel ??= record?.model
    identity.deviceOS ??= record?.os
    let decision = this.#decide(identity, who.otherUserAgent)
    if (record?.state === 'blocked') decision = ADMIN_BLOCKED
    else if (record?.state === 'approved' && decision.action === 'quarantine') decision = { ...decision, action: 'allow' }
    this.#metrics.policyDecisionsBy(decision.rule, decision.action).inc()
    if (decision.flags) this.#flagged(decision.flags, identity)
    if (decision.action === 'allow') {
      // A held long-poll of a known device keeps no observer (it would hold the identity for an hour);
      // the device's other requests keep its record fresh.
      if (deviceId && user && credentialed(identity) && (ctx.longPollMs === undefined || !record)) ctx.onAnswered = status => this.#answered(status, user, deviceId, record, who)
      return decision
    }
    // Never forwarded, so the upstream's answer cannot prove who this is: ask it. A quarantined device
    // enters the queue, and a blocked one's DeviceInformation is remembered for its later requests.
    const queue = decision.action === 'quarantine' && record?.state !== 'quarantined'
    if ((queue || who.deviceInformation) && deviceId && user && ctx.pool && !this.#storeHealth.down) {
      await this.#remember(ctx.pool.name, ctx.req.headers.authorization, user, deviceId, record, who, queue ? decision.rule : undefined).catch(err => { this.#storeHealth.failed(err) })
    }
    return decision
  }

  /** The upstream answered a forwarded request: a 2xx to credentials is the proof a record needs. */
  #answered (status: number, user: string, deviceId: string, record: DeviceRecord | undefined, who: Identified): void {
    if (status < 200 || status >= 300) return
    const stale = !record || Date.now() - Date.parse(record.lastSeen) > TOUCH_EVERY_MS
    if (!stale && !who.deviceInformation) return
    this.#put(this.#record(user, deviceId, record, who, record?.state ?? 'seen', record?.rule)).catch(err => { this.#storeHealth.failed(err) })
  }

  /**
   * Records a device that is not forwarded, once the upstream confirmed its credentials: into the
   * quarantine queue when `quarantineRule` is given, else as it is (its DeviceInformation kept).
   */
  async #remember (upstream: string, authorization: string | undefined, user: string, deviceId: string, record: DeviceRecord | undefined, who: Identified, quarantineRule: string | undefined): Promise<void> {
    if (!authorization || !PER_REQUEST_SCHEMES.has(who.authorization.scheme)) return
    // Keyed by the credentials (hashed, never kept): a wrong password must not delay the right one.
    const key = createHash('sha256').update(authorization).digest('base64')
    const failedAt = this.#unverified.get(key)
    if (failedAt !== undefined && Date.now() - failedAt < VERIFY_AGAIN_MS) return
    if (!await this.#checkCredentials(upstream, authorization)) {
      if (this.#unverified.size >= MAX_PENDING_VERIFICATIONS) this.#unverified.clear()
      this.#unverified.set(key, Date.now())
      return
    }
    this.#unverified.delete(key)
    const state = quarantineRule !== undefined ? 'quarantined' : record?.state ?? 'seen'
    await this.#put(this.#record(user, deviceId, record, who, state, quarantineRule ?? record?.rule))
  }

  #record (user: string, deviceId: string, record: DeviceRecord | undefined, who: Identified, state: DeviceRecord['state'], rule: string | undefined): DeviceRecord {
    const now = new Date().toISOString()
    const { identity } = who
    return {
      ...record,
      deviceId,
      user,
      deviceType: identity.deviceType ?? record?.deviceType,
      userAgent: identity.userAgent ?? record?.userAgent,
      ...(who.deviceInformation ? definedOnly(who.deviceInformation) : {}),
      state,
      rule,
      firstSeen: record?.firstSeen ?? now,
      lastSeen: now
    }
  }

  async #put (record: DeviceRecord): Promise<void> {
    if (await this.#inventory.put(record) || this.#fullWarned) return
    this.#fullWarned = true
    this.#log.warn({ maxDevices: 'inventory.maxDevices' }, 'device inventory full: new devices are not recorded (raise inventory.maxDevices or lower inventory.retentionDays)')
  }

  /** `flag` rules matched: allowed, but logged (without secrets) and counted per rule. */
  #flagged (flags: readonly string[], identity: ClientIdentity): void {
    for (const rule of flags) this.#metrics.policyDecisionsBy(rule, 'flag').inc()
    this.#log.info({ rules: flags, protocol: identity.protocol, user: identity.user, deviceId: identity.deviceId, userAgent: identity.userAgent, method: identity.method, path: identity.path, client: identity.clientIp }, 'client flagged')
  }

  /** The policy's decision; with a second user agent (a UCWA body's), the stricter of both. */
  #decide (identity: ClientIdentity, otherUserAgent: string | undefined): Decision {
    const policy = this.#policies.current
    const decision = policy.decide(identity)
    if (otherUserAgent === undefined) return decision
    const other = policy.decide({ ...identity, userAgent: otherUserAgent })
    return STRICTNESS[other.action] > STRICTNESS[decision.action] ? other : decision
  }
}

/** The request carried credentials (or rides on a connection that authenticated with NTLM/Negotiate). */
function credentialed (identity: ClientIdentity): boolean {
  return identity.authScheme !== undefined && identity.authScheme !== 'none'
}

/** Block outranks quarantine outranks allow: a request carrying two user agents gets the stricter verdict. */
const STRICTNESS: Record<Decision['action'], number> = { allow: 0, quarantine: 1, block: 2 }

const UNAVAILABLE: Verdict = { action: 'unavailable' }

const ADMIN_BLOCKED: Decision = { action: 'block', rule: 'admin-blocked', reason: 'blocked by an administrator' }

function definedOnly<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
