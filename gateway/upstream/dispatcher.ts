import { readFileSync } from 'node:fs'
import { Pool } from 'undici'
import { ConnectionPool, type ConnectionPoolOptions } from './http1/connection-pool.js'
import type { UpstreamConfig } from '../config/schema.js'

export interface UpstreamTls { rejectUnauthorized: boolean, ca?: Buffer, servername?: string }

/** Upstream TLS settings from the config, the CA file read once for both kinds of pool. */
export function upstreamTls (config: UpstreamConfig): UpstreamTls {
  return {
    rejectUnauthorized: !config.tls.insecure,
    ...(config.tls.caFile ? { ca: readFileSync(config.tls.caFile) } : {}),
    ...(config.tls.serverName ? { servername: config.tls.serverName } : {})
  }
}

/**
 * undici settings for one upstream server. Deliberately not undici's defaults (reference/proxy-core.md
 * §2.1): `connections: null` lifts the per-origin cap, so thousands of held Pings never make an ordinary
 * request queue behind them; header and body timeouts are set per request (long-polls need an hour,
 * undici's 300 s would cut them); TLS is verified unless the admin says `insecure: true`.
 */
export function dispatcherOptions (config: UpstreamConfig, tls: UpstreamTls): Pool.Options {
  return {
    connections: null,
    pipelining: 1,
    keepAliveTimeout: config.keepAliveMs,
    keepAliveMaxTimeout: config.keepAliveMs,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: config.connectTimeoutMs, ...tls }
  }
}

export function createPool (origin: string, options: Pool.Options): Pool {
  return new Pool(origin, options)
}

/** Settings of the gateway's own connection pools (the proxy path), from the same upstream config. */
export function connectionPoolOptions (config: UpstreamConfig, tls: UpstreamTls): ConnectionPoolOptions {
  return { connectTimeoutMs: config.connectTimeoutMs, keepAliveMs: config.keepAliveMs, tls }
}

/**
 * A single-connection pool for one downstream connection that authenticates with NTLM or Negotiate:
 * those schemes authenticate the TCP connection, so every request of that client connection must reuse
 * the same upstream connection (HAProxy marks such connections private for the same reason).
 */
export function createPinnedPool (origin: string, options: ConnectionPoolOptions): ConnectionPool {
  return new ConnectionPool(origin, { ...options, single: true })
}
