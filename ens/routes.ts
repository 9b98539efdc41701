import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Store } from '../gateway/store/store.js'
import type { KeyRateLimit } from './rate-limit.js'
import type { EnsService } from './service.js'

export interface EnsRouteDeps {
  service: EnsService
  store: Store
  apiTokens: string[]
  rateLimit: KeyRateLimit
}

const USER_ID = /^[0-9a-f]{64}$/

/** The device-facing ENS API (design.md, "ENS"), mounted under /api/ens and /MailNotifications/api/ens; notify is ens/notify-route.ts. */
export function ensRoutes (deps: EnsRouteDeps) {
  return async function routes (app: FastifyInstance): Promise<void> {
    app.get('/alive', async (_req, reply) => {
      const up = await deps.store.ping().then(() => true, () => false)
      return reply.code(up ? 200 : 503).send({ status: up ? 'alive' : 'store unreachable' })
    })

    app.register(async device => {
      device.addHook('onRequest', async (req, reply) => requireApiToken(req, reply, deps.apiTokens))

      device.post<{ Body: { userId?: unknown } }>('/publickey', async (req, reply) => {
        const userId = req.body?.userId
        if (typeof userId !== 'string' || !USER_ID.test(userId)) return reply.code(400).send({ error: 'userId must be the hex SHA-256 of the lower-case e-mail address' })
        if (!await deps.store.get(`ens:key:${userId}`) && !deps.rateLimit.take(req.ip)) {
          return reply.code(429).header('retry-after', '60').send({ error: 'too many new keys from this address' })
        }
        const key = await deps.service.publicKey(userId)
        return { userId, keyId: key.keyId, publicKey: key.publicKeyPem, algorithm: 'RSA-OAEP-256' }
      })

      device.post<{ Body: SubscribeBody }>('/subscribe', async (req, reply) => {
        const b = req.body
        const d = b?.device
        if (typeof b?.userId !== 'string' || !USER_ID.test(b.userId) || typeof b.keyId !== 'string' || typeof b.credentials !== 'string' ||
          !/^[A-Za-z0-9_-]{16,2048}$/.test(b.credentials) || typeof d?.id !== 'string' || !d.id || typeof d.token !== 'string' || !d.token ||
          (d.platform !== 'apns' && d.platform !== 'fcm' && d.platform !== 'webhook')) {
          return reply.code(400).send({ error: 'expected {userId, keyId, credentials (base64url), device: {id, platform: apns|fcm|webhook, token}}' })
        }
        const outcome = await deps.service.subscribe(b.userId, b.keyId, b.credentials, { id: d.id, platform: d.platform, token: d.token })
        return outcome.status === 201 ? reply.code(201).send({ subscriptionId: outcome.subscriptionId }) : reply.code(outcome.status).send({ error: outcome.error })
      })

      device.post<{ Body: { userId?: unknown, deviceId?: unknown } }>('/unsubscribe', async (req, reply) => {
        const { userId, deviceId } = req.body ?? {}
        if (typeof userId !== 'string' || !USER_ID.test(userId) || typeof deviceId !== 'string') return reply.code(400).send({ error: 'expected {userId, deviceId}' })
        await deps.service.unsubscribe(userId, deviceId)
        return reply.code(204).send()
      })
    })
  }
}

interface SubscribeBody {
  userId?: unknown
  keyId?: unknown
  credentials?: unknown
  emailAddress?: unknown
  device?: { id?: unknown, platform?: unknown, token?: unknown }
}

async function requireApiToken (req: FastifyRequest, reply: FastifyReply, tokens: string[]): Promise<void> {
  if (tokens.length === 0) return
  const given = Buffer.from(String(req.headers.apitoken ?? ''))
  const ok = tokens.some(t => { const b = Buffer.from(t); return b.length === given.length && timingSafeEqual(b, given) })
  if (!ok) return reply.code(401).send({ error: 'missing or wrong ApiToken header' })
}
