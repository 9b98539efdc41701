import type { Pool } from 'undici'
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

/**
 * One server of an upstream pool: its connections and everything health decides with. Proxied requests
 * use the gateway's own HTTP/1.1 connections; the gateway's own calls (health checks, ENS's EWS) use undici.
 */
export class UpstreamServer {
  readonly name: string
  readonly origin: string
  readonly dispatcher: Pool
  readonly connections: ConnectionPool
  inFlight = 0
  consecutiveFailures = 0
  ejections = 0
  ejectedUntil = 0
  lastEjectionEnd = 0
  /** A Retry-After from this server: it gets no first attempts before this time. */
  heldUntil = 0
  /** Result of active health checks; a server without checks stays true. */
  checksPassing = true
  probeFailures = 0
  probeSuccesses = 0
  lastFailure: ServerSnapshot['lastFailure'] = null

  readonly upstream: string

  constructor (upstream: string, origin: string, dispatcher: Pool, connections: ConnectionPool) {
    this.upstream = upstream
    const url = new URL(origin)
    this.origin = url.origin
    this.name = url.host
    this.dispatcher = dispatcher
    this.connections = connections
  }

  /** The attempt counter for one status (0: no answer) and outcome. */
  counter (metrics: Metrics, status: number, outcome: string): { inc: () => void } {
    return metrics.upstreamRequestsBy(this.upstream, this.name, status === 0 ? 'none' : statusClass(status), outcome)
  }

  isEjected (now: number): boolean {
    return now < this.ejectedUntil
  }

  /** In rotation: passing its checks, not ejected, not asking to be left alone. */
  isAvailable (now: number): boolean {
    return this.checksPassing && now >= this.ejectedUntil && now >= this.heldUntil
  }

  snapshot (now: number): ServerSnapshot {
    const ejected = this.isEjected(now)
    const state = !this.checksPassing ? 'failing-checks' : ejected ? 'ejected' : now < this.heldUntil ? 'held' : 'healthy'
    return {
      name: this.name,
      origin: this.origin,
      up: this.isAvailable(now),
      state,
      inFlight: this.inFlight,
      consecutiveFailures: this.consecutiveFailures,
      ejections: this.ejections,
      ejectedUntil: ejected ? new Date(this.ejectedUntil).toISOString() : null,
      lastFailure: this.lastFailure
    }
  }
}
