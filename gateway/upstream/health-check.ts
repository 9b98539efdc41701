import type { HealthCheckConfig } from '../config/schema.js'
import { bufferedRequest } from './http1/buffered-request.js'
import type { UpstreamPool } from './pool.js'
import type { UpstreamServer } from './server.js'

/**
 * Active health checks: an anonymous GET per server every interval. Exchange and Skype answer it with
 * 401 when healthy (IIS asks for credentials), a broken IIS app pool with an HTTP.sys 503. Probes go to
 * each server directly with the published Host header, on the server's own connections (the transport
 * proxied traffic uses, so a probe fails exactly when traffic would).
 */
export class HealthChecker {
  readonly #pool: UpstreamPool
  readonly #check: HealthCheckConfig
  readonly #host: string
  readonly #timers = new Set<NodeJS.Timeout>()
  #stopped = false

  constructor (pool: UpstreamPool, check: HealthCheckConfig, defaultHost: string) {
    this.#pool = pool
    this.#check = check
    this.#host = check.host ?? defaultHost
  }

  start (): void {
    for (const server of this.#pool.servers) void this.#loop(server)
  }

  stop (): void {
    this.#stopped = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }

  async #loop (server: UpstreamServer): Promise<void> {
    if (this.#stopped) return
    const { healthy, detail } = await this.probe(server)
    if (this.#stopped) return
    this.#pool.recordProbe(server, healthy, detail)
    // Jitter keeps the probes of many servers from lining up.
    const delay = this.#check.intervalMs * (0.9 + Math.random() * 0.2)
    const timer = setTimeout(() => { this.#timers.delete(timer); void this.#loop(server) }, delay)
    timer.unref()
    this.#timers.add(timer)
  }

  async probe (server: UpstreamServer): Promise<{ healthy: boolean, detail: string }> {
    try {
      const res = await bufferedRequest(server.connections, this.#host, {
        path: this.#check.path,
        method: 'GET',
        headers: { host: this.#host, 'user-agent': 'Portcullis-HealthCheck/1.0' },
        timeoutMs: this.#check.timeoutMs,
        maxBytes: 65_536
      })
      const healthy = this.#check.expect.includes(res.status)
      const serverHeader = res.headers.server
      return { healthy, detail: `probe answered ${res.status}${serverHeader ? ` (${serverHeader})` : ''}` }
    } catch (err) {
      return { healthy: false, detail: `probe failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).name}` }
    }
  }
}
