import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Every Prometheus series the gateway exports (design.md, "Metrics"). Labels are bounded: service,
 * upstream and server names from the config, status classes, fixed reasons. Never a user, device or URL.
 */
export class Metrics {
  readonly registry = new Registry()

  readonly requests = new Counter({
    name: 'portcullis_requests_total',
    help: 'Requests answered, by service and status class',
    labelNames: ['service', 'status_class'] as const,
    registers: [this.registry]
  })

  readonly requestDuration = new Histogram({
    name: 'portcullis_request_duration_seconds',
    help: 'Time to answer an ordinary request (long-polls excluded)',
    labelNames: ['service'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [this.registry]
  })

  readonly longPollsInFlight = new Gauge({
    name: 'portcullis_longpolls_in_flight',
    help: 'Long-poll requests (ActiveSync Ping/Sync, UCWA events) being held',
    labelNames: ['service'] as const,
    registers: [this.registry]
  })

  readonly upstreamRequests = new Counter({
    name: 'portcullis_upstream_requests_total',
    help: 'Attempts sent to upstream servers, by outcome',
    labelNames: ['upstream', 'server', 'status_class', 'outcome'] as const,
    registers: [this.registry]
  })

  readonly upstreamRetries = new Counter({
    name: 'portcullis_upstream_retries_total',
    help: 'Requests replayed on another server, by reason',
    labelNames: ['upstream', 'reason'] as const,
    registers: [this.registry]
  })

  readonly upstreamEjections = new Counter({
    name: 'portcullis_upstream_ejections_total',
    help: 'Servers taken out of rotation after consecutive server-level failures',
    labelNames: ['upstream', 'server'] as const,
    registers: [this.registry]
  })

  readonly upstreamServerUp = new Gauge({
    name: 'portcullis_upstream_server_up',
    help: '1 while a server is in rotation, 0 while it is ejected or fails its health checks',
    labelNames: ['upstream', 'server'] as const,
    registers: [this.registry]
  })

  readonly policyDecisions = new Counter({
    name: 'portcullis_policy_decisions_total',
    help: 'Policy decisions, by the rule that decided (or "default") and the action',
    labelNames: ['rule', 'action'] as const,
    registers: [this.registry]
  })

  readonly policyReloads = new Counter({
    name: 'portcullis_policy_reloads_total',
    help: 'Policy reloads, by result; a failed reload keeps the previous policy in force',
    labelNames: ['result'] as const,
    registers: [this.registry]
  })

  readonly ensNotifications = new Counter({
    name: 'portcullis_ens_notifications_total',
    help: 'Exchange push notifications handled by ENS, by event and result',
    labelNames: ['event', 'result'] as const,
    registers: [this.registry]
  })

  readonly ensPush = new Counter({
    name: 'portcullis_ens_push_total',
    help: 'Pushes sent to devices, by provider and result (sent, gone, retry)',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry]
  })

  readonly ensSubscriptions = new Counter({
    name: 'portcullis_ens_subscriptions_total',
    help: 'ENS subscribe requests, by result',
    labelNames: ['result'] as const,
    registers: [this.registry]
  })

  constructor () {
    collectDefaultMetrics({ register: this.registry })
  }
}

/** "2xx", "4xx", ...: status codes would multiply series for no insight. */
export function statusClass (status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other'
}
