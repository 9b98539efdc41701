import type { UpstreamConfig } from '../config/schema.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import { connectionPoolOptions, createPool, dispatcherOptions, upstreamTls } from './dispatcher.js'
import { ConnectionPool, type ConnectionPoolOptions } from './http1/connection-pool.js'
import { RetryBudget } from './retry-budget.js'
import { UpstreamServer, type FailureReason, type ServerSnapshot } from './server.js'
import type { Pool } from 'undici'

/**
 * A pool of servers behind one upstream name, with the choices of reference/proxy-core.md §1.4:
 * least outstanding requests (long-polls hold connections for up to an hour; round-robin would pile
 * them onto one server), consecutive server-level failures eject a server for base × n (capped),
 * and when every server is out the pool tries them anyway (panic) rather than refuse everyone.
 */
export class UpstreamPool {
  readonly name: string
  readonly config: UpstreamConfig
  readonly servers: UpstreamServer[]
  readonly options: Pool.Options
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
    this.options = dispatcherOptions(config, tls)
    this.connectionOptions = connectionPoolOptions(config, tls)
    this.retryBudget = new RetryBudget(config.retry.budgetPercent, config.retry.minRetries)
    this.servers = config.servers.map(origin => new UpstreamServer(name, origin, createPool(origin, this.options), new ConnectionPool(origin, this.connectionOptions)))
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
    server.consecutiveFailures = 0
  }

  /** Counts a server-level failure; enough in a row eject the server. */
  recordFailure (server: UpstreamServer, reason: FailureReason, detail: string, retryAfterSeconds?: number): void {
    const now = Date.now()
    server.consecutiveFailures++
    server.lastFailure = { at: new Date(now).toISOString(), reason, detail }
    if (retryAfterSeconds !== undefined && retryAfterSeconds > 0) {
      server.heldUntil = Math.max(server.heldUntil, now + Math.min(retryAfterSeconds, this.config.retry.retryAfterCapSeconds) * 1000)
    }
    if (server.consecutiveFailures >= this.config.ejection.consecutiveFailures && !server.isEjected(now)) {
      this.#eject(server, now, reason)
    }
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
    // Ejections that follow each other closely last longer; a server quiet for maxMs starts over.
    if (now - server.lastEjectionEnd > maxMs) server.ejections = 0
    server.ejections++
    const jitter = 0.9 + Math.random() * 0.2
    const duration = Math.min(baseMs * server.ejections, maxMs) * jitter
    server.ejectedUntil = now + duration
    server.lastEjectionEnd = server.ejectedUntil
    server.probeSuccesses = 0
    this.#metrics.upstreamEjections.inc({ upstream: this.name, server: server.name })
    this.#log.warn({ upstream: this.name, server: server.name, reason, ejectedForMs: Math.round(duration), ejections: server.ejections }, 'server ejected')
    setTimeout(() => this.#publishState(server), duration + 5).unref()
  }

  /** Called by the health checker after each probe. */
  recordProbe (server: UpstreamServer, healthy: boolean, detail: string): void {
    const { unhealthyThreshold = 2, healthyThreshold = 2 } = this.config.healthCheck ?? {}
    const now = Date.now()
    if (healthy) {
      server.probeFailures = 0
      server.probeSuccesses++
      if (!server.checksPassing && server.probeSuccesses >= healthyThreshold) {
        server.checksPassing = true
        this.#log.info({ upstream: this.name, server: server.name }, 'server passes its health checks again')
      }
      if (server.isEjected(now) && server.probeSuccesses >= healthyThreshold) {
        server.ejectedUntil = now
        server.lastEjectionEnd = now
        server.consecutiveFailures = 0
        this.#log.info({ upstream: this.name, server: server.name }, 'server back in rotation after good probes')
      }
    } else {
      server.probeSuccesses = 0
      server.probeFailures++
      server.lastFailure = { at: new Date(now).toISOString(), reason: 'probe', detail }
      if (server.checksPassing && server.probeFailures >= unhealthyThreshold) {
        server.checksPassing = false
        this.#log.warn({ upstream: this.name, server: server.name, detail }, 'server fails its health checks: out of rotation')
      }
    }
    this.#publishState(server)
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
    await Promise.all(this.servers.map(s => s.dispatcher.close()))
  }

  async destroy (): Promise<void> {
    for (const s of this.servers) s.connections.destroy()
    await Promise.all(this.servers.map(s => s.dispatcher.destroy()))
  }
}
