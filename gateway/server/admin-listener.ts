import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { ReloadResult } from '../policy/policy-holder.js'
import type { DeviceInventory, DeviceRecord } from '../store/device-inventory.js'

export interface AdminDeps {
  metrics: Metrics
  log: Logger
  pools: ReadonlyMap<string, UpstreamPool>
  /** Bearer token of the admin API; without one the API answers 403 (health and metrics stay open). */
  token: string | undefined
  ready: () => Promise<boolean>
  inventory: DeviceInventory
  reloadPolicies: (trigger: string) => ReloadResult
  /** Routes services bring to the token-protected API (ENS's key rotation), registered as fastify plugins. */
  apiRoutes?: ReadonlyArray<(api: FastifyInstance) => Promise<void>>
}

/**
 * The admin listener (keep it off the public interface): health and readiness for the load balancer,
 * /metrics for Prometheus, and the token-protected API.
 */
export function createAdminServer (deps: AdminDeps) {
  // warn level: the admin listener's own per-request info lines (scrapes every 15 s) are noise
  // A deadline for the whole request, body included: a dribbled body must not hold a socket forever.
  const app = Fastify({ loggerInstance: deps.log.child({ listener: 'admin' }, { level: 'warn' }), requestTimeout: 10_000, connectionTimeout: 30_000, bodyLimit: 65_536 })
  app.get('/healthz', async () => ({ status: 'serving' }))
  app.get('/readyz', async (_req, reply) => {
    const ready = await deps.ready()
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' })
  })
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType)
    return deps.metrics.registry.metrics()
  })
  app.register(async api => {
    api.addHook('onRequest', async (req, reply) => requireToken(req, reply, deps.token))
    api.get('/api/upstreams', async () => ({ upstreams: [...deps.pools.values()].map(p => p.snapshot()) }))
    api.get<{ Querystring: { state?: string } }>('/api/devices', async req => {
      const devices = await deps.inventory.list()
      return { devices: req.query.state ? devices.filter(d => d.state === req.query.state) : devices }
    })
    // Decisions are per (user, DeviceId), as Exchange's allow lists are per mailbox. `?user=` names the
    // mailbox; without it the DeviceId must belong to exactly one user in the inventory.
    const decide = (state: DeviceRecord['state']) => async (req: FastifyRequest<{ Params: { deviceId: string }, Querystring: { user?: string } }>, reply: FastifyReply) => {
      const { deviceId } = req.params
      const user = req.query.user
      let record: DeviceRecord | undefined
      if (user !== undefined) {
        if (user === '' || user.length > 256 || /[\u0000-\u001f\u007f]/.test(user)) return reply.code(400).send({ error: 'bad user' }) // eslint-disable-line no-control-regex
        const now = new Date().toISOString()
        record = await deps.inventory.get(user, deviceId) ?? { deviceId, user, state, firstSeen: now, lastSeen: now }
      } else {
        const matches = (await deps.inventory.list()).filter(d => d.deviceId.toLowerCase() === deviceId.toLowerCase())
        if (matches.length === 0) return reply.code(404).send({ error: 'no such device in the inventory: name its user with ?user=' })
        if (matches.length > 1) return reply.code(409).send({ error: 'several users have this DeviceId: name one with ?user=', users: matches.map(d => d.user) })
        record = matches[0] as DeviceRecord
      }
      await deps.inventory.put({ ...record, state })
      deps.log.info({ deviceId, user: record.user, state }, `device ${state} by an administrator`)
      return reply.send({ device: { ...record, state } })
    }
    api.post('/api/devices/:deviceId/approve', decide('approved'))
    api.post('/api/devices/:deviceId/block', decide('blocked'))
    api.post('/api/policies/reload', async (_req, reply) => {
      const result = deps.reloadPolicies('admin API')
      return reply.code(result.ok ? 200 : 422).send(result)
    })
    for (const routes of deps.apiRoutes ?? []) api.register(routes)
  })
  return app
}

/**
 * `Authorization: Bearer <token>`, nothing else. The digests are compared, not the tokens, so the
 * comparison takes the same time whatever the length of what was sent. A refused request's body is
 * never read: the connection is closed after the answer.
 */
async function requireToken (req: FastifyRequest, reply: FastifyReply, token: string | undefined): Promise<void> {
  if (!token) return reply.code(403).header('connection', 'close').send({ error: 'admin API disabled: set admin.tokenEnv' })
  const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')
  const given = createHash('sha256').update(match?.[1] ?? '').digest()
  const expected = createHash('sha256').update(token).digest()
  if (!match || !timingSafeEqual(given, expected)) {
    return reply.code(401).header('www-authenticate', 'Bearer').header('connection', 'close').send({ error: 'bad or missing bearer token' })
  }
}
