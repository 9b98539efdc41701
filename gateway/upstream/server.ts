import type { ConnectionPool } from './http1/connection-pool.js'
import { statusClass, type Metrics } from '../observability/metrics.js'

export type FailureReason = 'http_503' | 'connect' | 'reset' | 'timeout' | 'probe'

/** What the admin API and the logs say about a server. */
export interface ServerSnapshot {
  name: string
  origin: string
  up: boolean
  state: 'healthy' | 'ejected' | 'failing-checks' | 'held'
  inFlight: number
  consecutiveFailures: number
  ejections: number
  ejectedUntil: string | null
  lastFailure: { at: string, reason: FailureReason, detail: string } | null
}

/** Thresholds of the active health checks (config `healthCheck`). */
export interface ProbeThresholds { healthyThreshold: number, unhealthyThreshold: number }

/**
 * One server of an upstream pool: its connections (the one transport every request to it uses:
 * proxied traffic, health checks, ENS's EWS calls) and its health. The health counters are private:
 * they change only through the events below, which the pool and the health checker report.
 */
export class UpstreamServer {
  readonly name: string
  readonly origin: string
  readonly upstream: string
  readonly connections: ConnectionPool
  #inFlight = 0
  #consecutiveFailures = 0
  #ejections = 0
  #ejectedUntil = 0
  #lastEjectionEnd = 0
  /** A Retry-After from this server: it gets no first attempts before this time. */
  #heldUntil = 0
  /** Result of active health checks; a server without checks stays true. */
  #checksPassing = true
  #probeFailures = 0
  #probeSuccesses = 0
  #lastFailure: ServerSnapshot['lastFailure'] = null

  constructor (upstream: string, origin: string, connections: ConnectionPool) {
    this.upstream = upstream
    const url = new URL(origin)
    this.origin = url.origin
    this.name = url.host
    this.connections = connections
  }

  get inFlight (): number { return this.#inFlight }

  /** An attempt starts or ends on this server (least-outstanding-requests balancing reads the count). */
  attemptStarted (): void { this.#inFlight++ }
  attemptEnded (): void { this.#inFlight-- }

  /** The attempt counter for one status (0: no answer) and outcome. */
  counter (metrics: Metrics, status: number, outcome: string): { inc: () => void } {
    return metrics.upstreamRequestsBy(this.upstream, this.name, status === 0 ? 'none' : statusClass(status), outcome)
  }

  isEjected (now: number): boolean {
    return now < this.#ejectedUntil
  }

  /** In rotation: passing its checks, not ejected, not asking to be left alone. */
  isAvailable (now: number): boolean {
    return this.#checksPassing && now >= this.#ejectedUntil && now >= this.#heldUntil
  }

  succeeded (): void {
    this.#consecutiveFailures = 0
  }

  /** Counts a server-level failure; returns how many came in a row (the pool decides on ejection). */
  failed (now: number, reason: FailureReason, detail: string, holdUntil: number): number {
    this.#consecutiveFailures++
    this.#lastFailure = { at: new Date(now).toISOString(), reason, detail }
    if (holdUntil > this.#heldUntil) this.#heldUntil = holdUntil
    return this.#consecutiveFailures
  }

  /**
   * Takes the server out of rotation. Ejections that follow each other closely last longer; a server
   * quiet for `maxMs` starts over. Returns the duration (jittered).
   */
  eject (now: number, baseMs: number, maxMs: number): number {
    if (now - this.#lastEjectionEnd > maxMs) this.#ejections = 0
    this.#ejections++
    const duration = Math.min(baseMs * this.#ejections, maxMs) * (0.9 + Math.random() * 0.2)
    this.#ejectedUntil = now + duration
    this.#lastEjectionEnd = this.#ejectedUntil
    this.#probeSuccesses = 0
    return duration
  }

  get ejections (): number { return this.#ejections }

  /**
   * One active health check's result. Returns what changed: the checks started or stopped passing, or
   * good probes ended an ejection early.
   */
  probed (now: number, healthy: boolean, detail: string, thresholds: ProbeThresholds): 'passing' | 'failing' | 'back' | undefined {
    if (!healthy) {
      this.#probeSuccesses = 0
      this.#probeFailures++
      this.#lastFailure = { at: new Date(now).toISOString(), reason: 'probe', detail }
      if (!this.#checksPassing || this.#probeFailures < thresholds.unhealthyThreshold) return undefined
      this.#checksPassing = false
      return 'failing'
    }
    this.#probeFailures = 0
    this.#probeSuccesses++
    if (this.#probeSuccesses < thresholds.healthyThreshold) return undefined
    let change: 'passing' | 'back' | undefined
    if (!this.#checksPassing) {
      this.#checksPassing = true
      change = 'passing'
    }
    if (this.isEjected(now)) {
      this.#ejectedUntil = now
      this.#lastEjectionEnd = now
      this.#consecutiveFailures = 0
      change ??= 'back'
    }
    return change
  }

  snapshot (now: number): ServerSnapshot {
    const ejected = this.isEjected(now)
    const state = !this.#checksPassing ? 'failing-checks' : ejected ? 'ejected' : now < this.#heldUntil ? 'held' : 'healthy'
    return {
      name: this.name,
      origin: this.origin,
      up: this.isAvailable(now),
      state,
      inFlight: this.#inFlight,
      consecutiveFailures: this.#consecutiveFailures,
      ejections: this.#ejections,
      ejectedUntil: ejected ? new Date(this.#ejectedUntil).toISOString() : null,
      lastFailure: this.#lastFailure
    }
  }
}
