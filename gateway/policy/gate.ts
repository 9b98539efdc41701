import type { ServerResponse } from 'node:http'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import { blockedBody } from '../protocols/activesync-blocked.js'
import { supportsCommonStatus } from '../protocols/activesync-request.js'
import { answer } from '../proxy/answers.js'
import type { ProxyContext } from '../proxy/context.js'
import type { DeviceRecord, Store } from '../store/store.js'
import type { ClientIdentity, Decision } from '../../policies/identity.js'
import type { Identified } from './identify.js'
import type { PolicyHolder } from './policy-holder.js'

/** lastSeen is written back at most this often per device (one store write per request would be waste). */
const TOUCH_EVERY_MS = 60_000

/**
 * Applies the policy to an identified request: admin decisions stored per device first (blocked
 * always wins, approved lifts a quarantine), then the rules. Remembers devices (inventory, quarantine)
 * in the store and answers blocked clients the way their protocol expects. Returns true to forward.
 */
export class PolicyGate {
  readonly #policies: PolicyHolder
  readonly #store: Store
  readonly #metrics: Metrics
  readonly #log: Logger

  constructor (policies: PolicyHolder, store: Store, metrics: Metrics, log: Logger) {
    this.#policies = policies
    this.#store = store
    this.#metrics = metrics
    this.#log = log
  }

  /** Whether a rule of the policy in force reads `field`. */
  reads (field: keyof ClientIdentity): boolean {
    return this.#policies.current.reads(field)
  }

  async admit (ctx: ProxyContext, who: Identified): Promise<boolean> {
    const { identity } = who
    const deviceId = identity.deviceId
    const record = deviceId ? await this.#store.getDevice(deviceId) : undefined
    identity.deviceModel ??= record?.model
    identity.deviceOS ??= record?.os
    let decision = this.#decide(identity, who.otherUserAgent)
    if (record?.state === 'blocked') decision = ADMIN_BLOCKED
    else if (record?.state === 'approved' && decision.action === 'quarantine') decision = { ...decision, action: 'allow' }
    this.#metrics.policyDecisionsBy(decision.rule, decision.action).inc()
    if (deviceId) await this.#remember(deviceId, record, who, decision)
    if (decision.action === 'allow') return true
    ctx.note = `${decision.action} by rule ${decision.rule}`
    this.#log.info({ rule: decision.rule, action: decision.action, service: ctx.service, user: identity.user, deviceId, userAgent: identity.userAgent, command: identity.command }, decision.action === 'block' ? 'client blocked' : 'device quarantined')
    answerBlocked(ctx.res, ctx.service, who, decision)
    return false
  }

  /** The policy's decision; with a second user agent (a UCWA body's), the stricter of both. */
  #decide (identity: ClientIdentity, otherUserAgent: string | undefined): Decision {
    const policy = this.#policies.current
    const decision = policy.decide(identity)
    if (otherUserAgent === undefined) return decision
    const other = policy.decide({ ...identity, userAgent: otherUserAgent })
    return STRICTNESS[other.action] > STRICTNESS[decision.action] ? other : decision
  }

  async #remember (deviceId: string, record: DeviceRecord | undefined, who: Identified, decision: Decision): Promise<void> {
    const now = new Date()
    const { identity } = who
    const info = who.deviceInformation
    const quarantine = decision.action === 'quarantine' && record?.state !== 'quarantined'
    const stale = !record || now.getTime() - Date.parse(record.lastSeen) > TOUCH_EVERY_MS
    if (!quarantine && !stale && !info) return
    await this.#store.putDevice({
      ...record,
      deviceId,
      user: identity.user ?? record?.user,
      deviceType: identity.deviceType ?? record?.deviceType,
      userAgent: identity.userAgent ?? record?.userAgent,
      ...(info ? definedOnly(info) : {}),
      state: quarantine ? 'quarantined' : record?.state ?? 'seen',
      rule: quarantine ? decision.rule : record?.rule,
      firstSeen: record?.firstSeen ?? now.toISOString(),
      lastSeen: now.toISOString()
    })
  }
}

/** Block outranks quarantine outranks allow: a request carrying two user agents gets the stricter verdict. */
const STRICTNESS: Record<Decision['action'], number> = { allow: 0, quarantine: 1, block: 2 }

const ADMIN_BLOCKED: Decision = { action: 'block', rule: 'admin-blocked', reason: 'blocked by an administrator' }

function definedOnly<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/**
 * Design.md "Answers to a blocked client": ActiveSync 14.0+ commands that carry a Status get HTTP 200
 * with their own WBXML response holding Status 129 (the device shows "blocked" and stops retrying);
 * older versions, OPTIONS and commands without a Status get 403; EWS and Autodiscover 403; UCWA 403
 * with a UCWA error body. Quarantine answers the same way until an admin approves the device.
 */
function answerBlocked (res: ServerResponse, service: ProxyContext['service'], who: Identified, decision: Decision): void {
  const message = decision.action === 'quarantine' ? 'Device quarantined until an administrator approves it' : 'Device blocked by policy'
  if (service === 'activesync' && who.activesync && supportsCommonStatus(who.activesync.version) && who.identity.method === 'POST') {
    const body = blockedBody(who.activesync.command)
    if (body) {
      res.writeHead(200, { 'content-type': 'application/vnd.ms-sync.wbxml', 'content-length': body.length, 'cache-control': 'private' })
      res.end(body)
      return
    }
  }
  answer(res, 403, service, message)
}
