import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Every Prometheus series the gateway exports (design.md, "Metrics"). Labels are bounded: service,
 * upstream and server names from the config, status classes, fixed reasons. Never a user, device or URL.
 */
export class Metrics {
  readonly registry = new Registry()

  readonly requests = counter(this.registry, 'portcullis_requests_total', 'Requests answered, by service and status class', ['service', 'status_class'])

  readonly requestDuration = new Histogram({
    name: 'portcullis_request_duration_seconds',
    help: 'Time to answer an ordinary request (long-polls excluded)',
    labelNames: ['service'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [this.registry]
  })

  readonly longPollsInFlight = gauge(this.registry, 'portcullis_longpolls_in_flight', 'Long-poll requests (ActiveSync Ping/Sync, UCWA events) being held', ['service'])

  readonly longPollsEnded = counter(this.registry, 'portcullis_longpolls_ended_early_total', 'Long-polls that ended before the upstream answered, by who ended them: client, superseded (a newer Ping of the device), shutdown', ['service', 'by'])

  readonly upstreamRequests = counter(this.registry, 'portcullis_upstream_requests_total', 'Attempts sent to upstream servers, by outcome', ['upstream', 'server', 'status_class', 'outcome'])

  readonly upstreamRetries = counter(this.registry, 'portcullis_upstream_retries_total', 'Requests replayed on another server, by reason', ['upstream', 'reason'])

  readonly upstreamEjections = counter(this.registry, 'portcullis_upstream_ejections_total', 'Servers taken out of rotation after consecutive server-level failures', ['upstream', 'server'])

  readonly upstreamServerUp = gauge(this.registry, 'portcullis_upstream_server_up', '1 while a server is in rotation, 0 while it is ejected or fails its health checks', ['upstream', 'server'])

  readonly policyDecisions = counter(this.registry, 'portcullis_policy_decisions_total', 'Policy decisions, by the rule that decided (or "default") and the action', ['rule', 'action'])

  readonly policyReloads = counter(this.registry, 'portcullis_policy_reloads_total', 'Policy reloads, by result; a failed reload keeps the previous policy in force', ['result'])

  readonly ensNotifications = counter(this.registry, 'portcullis_ens_notifications_total', 'Exchange push notifications handled by ENS, by event and result', ['event', 'result'])

  readonly ensPush = counter(this.registry, 'portcullis_ens_push_total', 'Pushes sent to devices, by provider and result (sent, gone, retry)', ['provider', 'result'])

  readonly ensSubscriptions = counter(this.registry, 'portcullis_ens_subscriptions_total', 'ENS subscribe requests, by result', ['result'])

  readonly authFailures = counter(this.registry, 'portcullis_auth_failures_total', 'Authentication failures Exchange answered to credentialed requests, by service and kind (password, ntlm)', ['service', 'reason'])

  readonly protectionRefusals = counter(this.registry, 'portcullis_protection_refusals_total', 'Credentialed requests account protection answered locally, by service and reason', ['service', 'reason'])

  readonly protectionLocks = counter(this.registry, 'portcullis_protection_locks_total', 'Locks and bans account protection set: user_familiar, user_unfamiliar, client, password', ['kind'])

  readonly rateLimited = counter(this.registry, 'portcullis_rate_limited_total', 'Requests answered by a rate limit, by service and bucket kind (device, user, client)', ['service', 'kind'])

  readonly protectionActive = gauge(this.registry, 'portcullis_protection_active', 'Locked users, banned clients, stale devices and refused passwords now in force', ['kind'])

  // Per-request code uses these: `.labels()` hashes its arguments on every call, these remember children.
  readonly requestsBy = childCache((service: string, cls: string) => this.requests.labels({ service, status_class: cls }))
  readonly requestDurationBy = childCache((service: string) => this.requestDuration.labels({ service }))
  readonly upstreamRequestsBy = childCache((upstream: string, server: string, cls: string, outcome: string) => this.upstreamRequests.labels({ upstream, server, status_class: cls, outcome }))
  readonly longPollsEndedBy = childCache((service: string, by: string) => this.longPollsEnded.labels({ service, by }))
  readonly rateLimitedBy = childCache((service: string, kind: string) => this.rateLimited.labels({ service, kind }))
  readonly authFailuresBy = childCache((service: string, reason: string) => this.authFailures.labels({ service, reason }))
  readonly protectionRefusalsBy = childCache((service: string, reason: string) => this.protectionRefusals.labels({ service, reason }))
  readonly protectionLocksBy = childCache((kind: string) => this.protectionLocks.labels({ kind }))
  readonly policyDecisionsBy = childCache((rule: string, action: string) => this.policyDecisions.labels({ rule, action }))

  constructor () {
    collectDefaultMetrics({ register: this.registry })
  }
}

/** Memoises a metric's label children by their label values. */
function childCache<A extends string[], C> (make: (...values: A) => C): (...values: A) => C {
  const children = new Map<string, C>()
  return (...values) => {
    const key = values.join('\u0000')
    let child = children.get(key)
    if (!child) children.set(key, child = make(...values))
    return child
  }
}

function counter<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] })
}

function gauge<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [registry] })
}

/** "2xx", "4xx", ...: status codes would multiply series for no insight. */
export function statusClass (status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other'
}
