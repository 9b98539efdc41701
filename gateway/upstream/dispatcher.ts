import { readFileSync } from 'node:fs'
import { Pool } from 'undici'
import { ConnectionPool, type ConnectionPoolOptions } from './http1/connection-pool.js'
import type { UpstreamConfig } from '../config/schema.js'

/**
 * undici settings for one upstream server. Deliberately not undici's defaults (reference/proxy-core.md
 * §2.1): `connections: null` lifts the per-origin cap, so thousands of held Pings never make an ordinary
 * request queue behind them; header and body timeouts are set per request (long-polls need an hour,
 * undici's 300 s would cut them); TLS is verified unless the admin says `insecure: true`.
 */
export function dispatcherOptions (config: UpstreamConfig): Pool.Options {
  const ca = config.tls.caFile ? readFileSync(config.tls.caFile) : undefined
  return {
    connections: null,
    pipelining: 1,
    keepAliveTimeout: config.keepAliveMs,
    keepAliveMaxTimeout: config.keepAliveMs,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: {
      timeout: config.connectTimeoutMs,
      rejectUnauthorized: !config.tls.insecure,
      ...(ca ? { ca } : {}),
      ...(config.tls.serverName ? { servername: config.tls.serverName } : {})
    }
  }
}

export function createPool (origin: string, options: Pool.Options): Pool {
  return new Pool(origin, options)
}

/** Settings of the gateway's own connection pools (the proxy path), from the same upstream config. */
export function connectionPoolOptions (config: UpstreamConfig): ConnectionPoolOptions {
  const ca = config.tls.caFile ? readFileSync(config.tls.caFile) : undefined
  return {
    connectTimeoutMs: config.connectTimeoutMs,
    keepAliveMs: config.keepAliveMs,
    tls: { rejectUnauthorized: !config.tls.insecure, ...(ca ? { ca } : {}), ...(config.tls.serverName ? { servername: config.tls.serverName } : {}) }
  }
}

/**
 * A single-connection pool for one downstream connection that authenticates with NTLM or Negotiate:
 * those schemes authenticate the TCP connection, so every request of that client connection must reuse
 * the same upstream connection (HAProxy marks such connections private for the same reason).
 */
export function createPinnedPool (origin: string, options: ConnectionPoolOptions): ConnectionPool {
  return new ConnectionPool(origin, { ...options, single: true })
}
