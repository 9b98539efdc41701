import type { Server } from 'node:http'
import type { AddressInfo, Server as NetServer } from 'node:net'
import type { LoadedConfig } from '../config/load.js'
import type { Logger } from '../observability/log.js'
import { Metrics } from '../observability/metrics.js'
import { credentialChecker } from '../upstream/credential-check.js'
import { HealthChecker } from '../upstream/health-check.js'
import { UpstreamPool } from '../upstream/pool.js'
import { createAdminServer } from './admin-listener.js'
import { createMainServer } from './main-listener.js'
import { proxyProtocolListener } from './proxy-protocol-listener.js'
import { RequestHandler } from './request-handler.js'
import { PolicyGate } from '../policy/gate.js'
import { PolicyHolder, type ReloadResult } from '../policy/policy-holder.js'
import { createStore } from '../store/create-store.js'
import { createProtection } from '../protection/create-protection.js'
import { protectionRoutes } from './admin-protection-routes.js'
import type { Ens } from '../../ens/create-ens.js'

/** A running gateway: both listeners, the upstream pools and their health checks. */
export interface Gateway {
  readonly pools: ReadonlyMap<string, UpstreamPool>
  readonly metrics: Metrics
  /** Where the listeners ended up (port 0 in the config picks a free one). */
  readonly url: string
  readonly adminUrl: string
  /** The e-mail notification service, when enabled. */
  readonly ens: Ens | undefined
  /** Reloads the policy file; the previous policy stays when the new one is invalid. */
  reloadPolicies: (trigger: string) => ReloadResult
  stop: () => Promise<void>
}

/** Builds and starts a gateway; never touches process signals (the CLI does). */
export async function startGateway (config: LoadedConfig, log: Logger): Promise<Gateway> {
  const metrics = new Metrics()
  const pools = new Map<string, UpstreamPool>()
  for (const [name, upstream] of Object.entries(config.upstreams)) pools.set(name, new UpstreamPool(name, upstream, metrics, log))
  const publicHost = new URL(config.publicUrl).host
  const checkers = [...pools.values()].flatMap(pool => pool.config.healthCheck ? [new HealthChecker(pool, pool.config.healthCheck, publicHost)] : [])

  const store = createStore(config)
  const policies = config.policies ? new PolicyHolder(config.policies, log, metrics, config.compiledPolicy) : undefined
  const gate = policies ? new PolicyGate(policies, store.inventory, metrics, log, credentialChecker(pools, publicHost), config.store.type === 'redis' ? config.store.onUnavailable : 'open') : undefined
  const reloadPolicies = (trigger: string): ReloadResult => policies ? policies.reload(trigger) : { ok: false, problems: ['no policies file configured'] }
  // Loaded only when enabled: ews-javascript-api and its dependencies are about 700 modules.
  const ens = config.ens.enabled ? await (await import('../../ens/create-ens.js')).createEns(config, store, pools, metrics, log) : undefined
  const protection = createProtection(config, store, metrics, log)
  const handler = new RequestHandler({ config, pools, metrics, log, ...(gate ? { gate } : {}), ...(ens ? { ens: ens.handle } : {}), ...(protection ? { protection } : {}) })
  const apiRoutes = [...(ens ? [ens.adminRoutes] : []), ...(protection && config.protection ? [protectionRoutes(protection.state, config.protection)] : [])]
  const main = createMainServer(config, handler.handle, log, (socket, fn) => handler.afterPending(socket, fn))
  let ready = false
  const admin = createAdminServer({ metrics, log, pools, inventory: store.inventory, reloadPolicies, apiRoutes, token: config.admin.tokenEnv ? process.env[config.admin.tokenEnv] : undefined, ready: async () => ready && await store.ping().then(() => true, () => false) })

  // With the PROXY protocol a TCP listener reads the header and hands the connection to the server.
  const front = config.listen.proxyProtocol ? proxyProtocolListener(main, config.listen.trustedProxies, log) : main
  try {
    await listen(front, config.listen.port, config.listen.host)
    await admin.listen({ port: config.admin.port, host: config.admin.host })
  } catch (err) {
    // Nothing may keep the process alive after a failed start (a port in use, say).
    main.close()
    if (front !== main) front.close()
    await admin.close().catch(() => {})
    await Promise.all([...pools.values()].map(pool => pool.destroy()))
    policies?.close()
    protection?.close()
    await ens?.close()
    await store.close()
    throw err
  }
  for (const checker of checkers) checker.start()
  ready = true
  const scheme = config.listen.tls ? 'https' : 'http'
  const url = `${scheme}://${hostFor((front.address() as AddressInfo))}`
  const adminUrl = `http://${hostFor(admin.server.address() as AddressInfo)}`
  log.info({ url, adminUrl, upstreams: [...pools.keys()] }, 'gateway listening')

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    if (front !== main) front.close()
    stopping ??= shutdown({ main, admin, handler, pools, checkers, log, graceMs: config.listen.shutdownGraceMs, setUnready: () => { ready = false } })
      .finally(async () => { policies?.close(); protection?.close(); await ens?.close(); await store.close() })
    return stopping
  }
  return { pools, metrics, url, adminUrl, ens, reloadPolicies, stop }
}

interface ShutdownParts {
  main: Server
  admin: ReturnType<typeof createAdminServer>
  handler: RequestHandler
  pools: Map<string, UpstreamPool>
  checkers: HealthChecker[]
  log: Logger
  graceMs: number
  setUnready: () => void
}

/**
 * Graceful stop: refuse new connections, let ordinary requests finish within the grace period, end
 * held long-polls cleanly (a Ping gets "no changes", so the device pings again elsewhere), then close.
 */
async function shutdown (p: ShutdownParts): Promise<void> {
  p.setUnready()
  p.log.info({ inFlight: p.handler.inFlight.size }, 'shutting down')
  const closed = new Promise<void>(resolve => p.main.close(() => resolve()))
  p.main.closeIdleConnections()
  for (const checker of p.checkers) checker.stop()
  const deadline = Date.now() + p.graceMs
  const ordinaryLeft = (): number => [...p.handler.inFlight].filter(ctx => ctx.longPollMs === undefined).length
  while (ordinaryLeft() > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  for (const state of p.handler.inFlight) p.handler.interrupt(state)
  await new Promise(resolve => setTimeout(resolve, 20)) // let interrupted answers flush
  p.main.closeAllConnections()
  await closed
  await Promise.all([...p.pools.values()].map(pool => pool.destroy()))
  await p.admin.close()
  p.log.info('stopped')
  p.log.flush()
}

function listen (server: Server | NetServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
}

function hostFor (addr: AddressInfo): string {
  return addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`
}
