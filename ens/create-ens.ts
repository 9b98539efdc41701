import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LoadedConfig } from '../gateway/config/load.js'
import type { Logger } from '../gateway/observability/log.js'
import type { Metrics } from '../gateway/observability/metrics.js'
import type { Store } from '../gateway/store/store.js'
import { StoreUnavailableError } from '../gateway/store/store-unavailable.js'
import type { UpstreamPool } from '../gateway/upstream/pool.js'
import { parseMasterKey } from './crypto.js'
import { ApnsProvider } from './push/apns.js'
import { FcmProvider } from './push/fcm.js'
import type { PushProvider } from './push/types.js'
import { WebhookProvider } from './push/webhook.js'
import { KeyRateLimit } from './rate-limit.js'
import { handleNotify, isNotifyRequest } from './notify-route.js'
import { ensAdminRoutes } from './admin-routes.js'
import { ensRoutes, refuse } from './routes.js'
import { EnsService } from './service.js'
import { createEnsState } from './state/create-ens-state.js'

export interface Ens {
  service: EnsService
  /** Serves a request routing sent to ENS (/api/ens, /MailNotifications/api/ens), after the pipeline's policy; `client` is the client's address as the gateway decided it. */
  handle: (req: IncomingMessage, res: ServerResponse, client: string) => void
  /** ENS's routes on the admin listener's token-protected API. */
  adminRoutes: ReturnType<typeof ensAdminRoutes>
  close: () => Promise<void>
}

/** Builds ENS from the config; throws a plain Error naming the key when something required is missing. */
export async function createEns (config: LoadedConfig, store: Store, pools: ReadonlyMap<string, UpstreamPool>, metrics: Metrics, log: Logger): Promise<Ens> {
  const ens = config.ens
  const pool = pools.get(ens.ews?.upstream ?? '')
  if (!pool) throw new Error('ens.ews.upstream must name an upstream (the Exchange pool)')
  let masterKey = parseMasterKey(ens.masterKeyEnv ? process.env[ens.masterKeyEnv] : undefined)
  if (!masterKey) {
    if (store.kind === 'redis') throw new Error('ENS on the Redis store needs a master key: set ens.masterKeyEnv and that variable (32 random bytes, base64)')
    masterKey = randomBytes(32) // memory store: keys die with the process anyway
    log.warn('ens.masterKeyEnv not set: using a random master key for this process (memory store only)')
  }
  const providers: PushProvider[] = []
  if (ens.push.apns) providers.push(new ApnsProvider(ens.push.apns))
  if (ens.push.fcm) providers.push(new FcmProvider(ens.push.fcm.serviceAccountFile, ens.push.fcm.endpoint))
  if (ens.push.webhook) providers.push(new WebhookProvider(ens.push.webhook.url))
  const state = createEnsState(store)
  const service = new EnsService(state, pool, providers, {
    callbackBase: (ens.callbackUrl ?? config.publicUrl).replace(/\/$/, ''),
    ewsPath: ens.ews?.path ?? '/EWS/Exchange.asmx',
    statusFrequencyMinutes: ens.statusFrequencyMinutes,
    payload: ens.payload,
    masterKey,
    keyMaxAgeDays: ens.keyMaxAgeDays,
    retiredKeyDays: ens.retiredKeyDays
  }, metrics, log)
  const apiTokens = (ens.apiTokensEnv ? process.env[ens.apiTokensEnv] ?? '' : '').split(',').map(t => t.trim()).filter(Boolean)
  // The logger of this app never prints URLs: the notify URL carries the encrypted credentials.
  const app = Fastify({ loggerInstance: log.child({ listener: 'ens' }, { level: 'warn' }), bodyLimit: 65_536 })
  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, _req, reply) => {
    if (err instanceof StoreUnavailableError) return refuse(reply.header('retry-after', '30'), 'GW_STORE_UNAVAILABLE')
    const status = err.statusCode ?? 500
    if (status >= 500) {
      log.error({ code: err.code, message: err.message }, 'ENS request failed')
      return refuse(reply, 'GW_INTERNAL')
    }
    return reply.code(status).send({ error: err.message }) // fastify's own 4xx (a malformed JSON body, say)
  })
  // Never fastify's default 404, which echoes the URL (and a notify URL's query carries `creds`).
  app.setNotFoundHandler((_req, reply) => refuse(reply, 'GW_ROUTE_NOT_FOUND'))
  const clients = new WeakMap<IncomingMessage, string>()
  const clientAddress = (req: IncomingMessage): string => clients.get(req) ?? req.socket.remoteAddress ?? ''
  const routes = ensRoutes({ service, store, apiTokens, rateLimit: new KeyRateLimit(), clientAddress })
  await app.register(routes, { prefix: '/api/ens' })
  await app.register(routes, { prefix: '/MailNotifications/api/ens' })
  await app.ready()
  const watchdog = setInterval(() => { service.checkHeartbeats().catch(err => log.error({ message: (err as Error).message }, 'ENS heartbeat check failed')) }, 60_000)
  watchdog.unref()
  return {
    service,
    handle: (req, res, client) => {
      if (isNotifyRequest(req)) return handleNotify(req, res, service, log) // Exchange's callback, authenticated by its URL
      clients.set(req, client)
      app.routing(req, res)
    },
    adminRoutes: ensAdminRoutes(service),
    close: async () => { clearInterval(watchdog); await app.close(); await service.close(); state.close?.() }
  }
}
