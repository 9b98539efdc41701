import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ErrorCode } from '../gateway/errors/catalogue.js'
import { reply as gatewayReply } from '../gateway/replies/reply.js'
import { replyBody } from '../gateway/replies/write-reply.js'
import type { Store } from '../gateway/store/store.js'
import type { KeyRateLimit } from './rate-limit.js'
import type { StoredKey } from './keys.js'
import type { EnsService } from './service.js'

export interface EnsRouteDeps {
  service: EnsService
  store: Store
  apiTokens: string[]
  rateLimit: KeyRateLimit
  /** The client's address as the gateway decided it (listen.trustedProxies applied). */
  clientAddress: (req: IncomingMessage) => string
}

const USER_ID = /^[0-9a-f]{64}$/
/** An SMTP address as it may go into the Subscribe unescaped: no XML metacharacters, no spaces, bounded. */
const EMAIL = /^[A-Za-z0-9.!#$%*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$/
const HANDLE = /^[0-9a-f]{32}$/
const DEVICE_FIELD = /^[\x21-\x7e]{1,256}$/
const PUSH_TOKEN = /^[\x21-\x7e]{1,4096}$/

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
        if (typeof userId !== 'string' || !USER_ID.test(userId)) return refuse(reply, 'GW_ENS_BAD_REQUEST', 'userId must be the hex SHA-256 of the lower-case e-mail address')
        if (await deps.service.hasKey(userId)) return publicKeyAnswer(userId, await deps.service.publicKey(userId))
        const admitted = deps.rateLimit.admit(deps.clientAddress(req.raw))
        if (admitted !== 'ok') {
          return refuse(reply.header('retry-after', admitted === 'busy' ? '5' : '60'), admitted === 'busy' ? 'GW_ENS_BUSY' : 'GW_ENS_RATE_LIMITED')
        }
        try {
          return publicKeyAnswer(userId, await deps.service.publicKey(userId))
        } finally {
          deps.rateLimit.done()
        }
      })

      device.post<{ Body: SubscribeBody }>('/subscribe', async (req, reply) => {
        const b = req.body
        const d = b?.device
        if (typeof b?.userId !== 'string' || !USER_ID.test(b.userId) || typeof b.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(b.keyId) || typeof b.credentials !== 'string' ||
          !/^[A-Za-z0-9_-]{16,2048}$/.test(b.credentials) || typeof b.emailAddress !== 'string' || b.emailAddress.length > 254 || !EMAIL.test(b.emailAddress) ||
          typeof d?.id !== 'string' || !DEVICE_FIELD.test(d.id) || typeof d.token !== 'string' || !PUSH_TOKEN.test(d.token) ||
          (d.platform !== 'apns' && d.platform !== 'fcm' && d.platform !== 'webhook')) {
          return refuse(reply, 'GW_ENS_BAD_REQUEST', 'expected {userId, keyId, credentials (base64url), emailAddress, device: {id, platform: apns|fcm|webhook, token}}')
        }
        const outcome = await deps.service.subscribe(b.userId, b.keyId, b.credentials, b.emailAddress, { id: d.id, platform: d.platform, token: d.token })
        return 'created' in outcome ? reply.code(201).send({ subscriptionId: outcome.subscriptionId }) : refuse(reply, outcome.refused, outcome.detail)
      })

      device.post<{ Body: { userId?: unknown, deviceId?: unknown, subscriptionId?: unknown } }>('/unsubscribe', async (req, reply) => {
        const { userId, deviceId, subscriptionId } = req.body ?? {}
        if (typeof userId !== 'string' || !USER_ID.test(userId) || typeof deviceId !== 'string' || !DEVICE_FIELD.test(deviceId) || typeof subscriptionId !== 'string') {
          return refuse(reply, 'GW_ENS_BAD_REQUEST', 'expected {userId, deviceId, subscriptionId}')
        }
        // Unknown device, someone else's, or a wrong subscriptionId: one answer (no oracle).
        if (!HANDLE.test(subscriptionId) || !await deps.service.unsubscribe(userId, deviceId, subscriptionId)) return refuse(reply, 'GW_ENS_NO_SUBSCRIPTION')
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
  if (!ok) return refuse(reply, 'GW_ENS_API_TOKEN')
}

function publicKeyAnswer (userId: string, key: StoredKey): Record<string, string> {
  return { userId, keyId: key.keyId, publicKey: key.publicKeyPem, algorithm: 'RSA-OAEP-256' }
}

/** An ENS refusal in the gateway's one reply form for ENS (gateway/replies/write-reply.ts), with its catalogue code. */
export function refuse (reply: FastifyReply, code: ErrorCode, message?: string): FastifyReply {
  const { status, type, body } = replyBody('ens', gatewayReply(code, message))
  return reply.code(status).header('content-type', type).send(body)
}
