import { readFileSync } from 'node:fs'
import { ConnectionPool, type ConnectionPoolOptions } from './http1/connection-pool.js'
import type { UpstreamConfig } from '../config/schema.js'

export interface UpstreamTls { rejectUnauthorized: boolean, ca?: Buffer, servername?: string }

/** Upstream TLS settings from the config, the CA file read once per pool. */
export function upstreamTls (config: UpstreamConfig): UpstreamTls {
  return {
    rejectUnauthorized: !config.tls.insecure,
    ...(config.tls.caFile ? { ca: readFileSync(config.tls.caFile) } : {}),
    ...(config.tls.serverName ? { servername: config.tls.serverName } : {})
  }
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
