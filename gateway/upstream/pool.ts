import type { UpstreamConfig } from '../config/schema.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import { nextStep } from './attempt-policy.js'
import { classifyError, isServerLevel503, retryAfterSeconds } from './classify.js'
import { connectionPoolOptions, upstreamTls } from './connection-settings.js'
import { bufferedRequest, type BufferedAnswer, type BufferedRequest } from './http1/buffered-request.js'
import { ConnectionPool, type ConnectionPoolOptions } from './http1/connection-pool.js'
import { RetryBudget } from './retry-budget.js'
import { UpstreamServer, type FailureReason, type ServerSnapshot } from './server.js'
import { GatewayError } from '../errors/catalogue.js'

/** No server answered one of the gateway's own requests; `cause` is the last attempt's failure. */
export class UpstreamUnavailableError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) { super('GW_UPSTREAM_EXHAUSTED', message, options) }
}

/**
 * A pool of servers behind one upstream name, with the choices Envoy documents for its load balancer
 * and outlier detection:
 * least outstanding requests (long-polls hold connections for up to an hour; round-robin would pile
 * them onto one server), consecutive server-level failures eject a server for base × n (capped),
 * and when every server is out the pool tries them anyway (panic) rather than refuse everyone.
 */
export class UpstreamPool {
  readonly name: string
  readonly config: UpstreamConfig
  readonly servers: UpstreamServer[]
  readonly connectionOptions: ConnectionPoolOptions
  readonly retryBudget: RetryBudget
  #next = 0
  readonly #metrics: Metrics
  readonly #log: Logger

  constructor (name: string, config: UpstreamConfig, metrics: Metrics, log: Logger) {
    this.name = name
    this.config = config
    this.#metrics = metrics
    this.#log = log
    const tls = upstreamTls(config)
    this.connectionOptions = connectionPoolOptions(config, tls)
    this.retryBudget = new RetryBudget(config.retry.budgetPercent, config.retry.minRetries)
    this.servers = config.servers.map(origin => new UpstreamServer(name, origin, new ConnectionPool(origin, this.connectionOptions)))
    for (const server of this.servers) this.#metrics.upstreamServerUp.set({ upstream: name, server: server.name }, 1)
  }

  /**
   * The server for the next attempt: the least loaded available one not yet tried by this request;
   * ties go round-robin. With none available, panic mode picks among the untried ones.
   */
  pick (tried: readonly UpstreamServer[]): UpstreamServer | undefined {
    const now = Date.now()
    const n = this.servers.length
    const start = this.#next++ % n
    let best: UpstreamServer | undefined
    let fallback: UpstreamServer | undefined
    for (let i = 0; i < n; i++) {
      const s = this.servers[(start + i) % n] as UpstreamServer
      if (tried.includes(s)) continue
      if (s.isAvailable(now)) {
        if (!best || s.inFlight < best.inFlight) best = s
      } else if (!fallback || s.inFlight < fallback.inFlight) {
        fallback = s
      }
    }
    return best ?? fallback
  }

  /** Is there a server this request has not tried yet? (No side effect on the rotation.) */
  hasUntried (tried: readonly UpstreamServer[]): boolean {
    return tried.length < this.servers.length
  }

  recordSuccess (server: UpstreamServer): void {
    server.succeeded()
  }

  /** Counts a server-level failure; enough in a row eject the server. */
  recordFailure (server: UpstreamServer, reason: FailureReason, detail: string, retryAfterSeconds?: number): void {
    const now = Date.now()
    const holdUntil = retryAfterSeconds !== undefined && retryAfterSeconds > 0 ? now + Math.min(retryAfterSeconds, this.config.retry.retryAfterCapSeconds) * 1000 : 0
    const inARow = server.failed(now, reason, detail, holdUntil)
    if (inARow >= this.config.ejection.consecutiveFailures && !server.isEjected(now)) this.#eject(server, now, reason)
    this.#publishState(server)
  }

  #eject (server: UpstreamServer, now: number, reason: FailureReason): void {
    const { baseMs, maxMs, maxPercent } = this.config.ejection
    const ejectedNow = this.servers.filter(s => s.isEjected(now)).length
    const allowed = ejectedNow === 0 || ((ejectedNow + 1) / this.servers.length) * 100 <= maxPercent
    if (!allowed) {
      this.#log.warn({ upstream: this.name, server: server.name, reason }, 'server failing but not ejected: ejection limit reached')
      return
    }
    const duration = server.eject(now, baseMs, maxMs)
    this.#metrics.upstreamEjections.inc({ upstream: this.name, server: server.name })
    this.#log.warn({ upstream: this.name, server: server.name, reason, ejectedForMs: Math.round(duration), ejections: server.ejections }, 'server ejected')
    setTimeout(() => this.#publishState(server), duration + 5).unref()
  }

  /** Called by the health checker after each probe. */
  recordProbe (server: UpstreamServer, healthy: boolean, detail: string): void {
    const { unhealthyThreshold = 2, healthyThreshold = 2 } = this.config.healthCheck ?? {}
    const change = server.probed(Date.now(), healthy, detail, { unhealthyThreshold, healthyThreshold })
    if (change === 'passing') this.#log.info({ upstream: this.name, server: server.name }, 'server passes its health checks again')
    else if (change === 'back') this.#log.info({ upstream: this.name, server: server.name }, 'server back in rotation after good probes')
    else if (change === 'failing') this.#log.warn({ upstream: this.name, server: server.name, detail }, 'server fails its health checks: out of rotation')
    this.#publishState(server)
  }

  /**
   * One of the gateway's own requests (ENS's EWS calls, credential checks) with the proxy's failover:
   * the same server choice, attempt policy, retry budget, backoff and in-flight accounting. An answer
   * of any status is an answer (an EWS 500 is a SOAP fault, not a dead server), except a server-level
   * 503, which is replayed elsewhere. Rejects with UpstreamUnavailableError when no server answered.
   */
  async request (request: BufferedRequest): Promise<BufferedAnswer> {
    const tried: UpstreamServer[] = []
    const { retry } = this.config
    this.retryBudget.recordRequest()
    let last: unknown
    for (;;) {
      const server = this.pick(tried)
      if (!server) break
      tried.push(server)
      server.attemptStarted()
      let answer: BufferedAnswer | undefined
      let failure: unknown
      try {
        answer = await bufferedRequest(server.connections, server.name, request)
      } catch (err) {
        failure = err
      } finally {
        server.attemptEnded()
      }
      const facts = { attempts: tried.length, untried: this.hasUntried(tried), method: request.method, replayable: true, bodyUntouched: true, pinned: false, longPoll: false }
      let step
      let reason: FailureReason
      if (answer && !isServerLevel503(answer.status, answer.headers['x-ms-asthrottle'] !== undefined)) {
        server.counter(this.#metrics, answer.status, 'response').inc()
        this.recordSuccess(server)
        return answer
      } else if (answer) {
        server.counter(this.#metrics, 503, 'server_error').inc()
        reason = 'http_503'
        this.recordFailure(server, reason, `503 from ${answer.headers.server ?? 'server'}`, retryAfterSeconds(answer.headers['retry-after']))
        last = new UpstreamUnavailableError(`${server.name}: 503`)
        step = nextStep({ kind: 'http_503' }, facts, retry)
      } else {
        const error = classifyError(failure)
        server.counter(this.#metrics, 0, error.reason).inc()
        reason = error.reason
        this.recordFailure(server, reason, error.code)
        last = failure
        step = nextStep({ kind: 'failed', reason: error.reason, beforeSend: error.beforeSend, responseStarted: false }, facts, retry)
      }
      if (!step.retry || !this.retryBudget.tryAcquire()) break
      this.#metrics.upstreamRetries.inc({ upstream: this.name, reason })
      if (step.afterMs >= 1) await new Promise(resolve => setTimeout(resolve, step.afterMs))
    }
    throw new UpstreamUnavailableError(`no server of ${this.name} answered`, { cause: last })
  }

  #publishState (server: UpstreamServer): void {
    this.#metrics.upstreamServerUp.set({ upstream: this.name, server: server.name }, server.isAvailable(Date.now()) ? 1 : 0)
  }

  snapshot (): { name: string, panic: boolean, servers: ServerSnapshot[] } {
    const now = Date.now()
    const servers = this.servers.map(s => s.snapshot(now))
    return { name: this.name, panic: servers.every(s => !s.up), servers }
  }

  async close (): Promise<void> {
    for (const s of this.servers) s.connections.close()
  }

  async destroy (): Promise<void> {
    for (const s of this.servers) s.connections.destroy()
  }
}
