import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../gateway/observability/log.js'
import type { ErrorCode } from '../gateway/errors/catalogue.js'
import { reply as gatewayReply } from '../gateway/replies/reply.js'
import { replyBody } from '../gateway/replies/write-reply.js'
import { StoreUnavailableError } from '../gateway/store/store-unavailable.js'
import { NotificationParseError, parseSendNotification, sendNotificationResult } from './send-notification.js'
import type { EnsService, Subscription } from './service.js'

const NOTIFY_PATHS = new Set(['/api/ens/notify', '/MailNotifications/api/ens/notify'])
const SEND_NOTIFICATION = 'http://schemas.microsoft.com/exchange/services/2006/messages/SendNotification'
const XML_TYPE = /^\s*(text\/xml|application\/soap\+xml)\s*(;|$)/i
/** A SendNotification with a full batch of events is a few tens of KB; Exchange sends nothing larger here. */
const MAX_BODY = 131_072

/** Whether a request is Exchange's callback (the query, which carries the credentials, is not looked at). */
export function isNotifyRequest (req: IncomingMessage): boolean {
  const url = req.url ?? ''
  const q = url.indexOf('?')
  return NOTIFY_PATHS.has(q === -1 ? url : url.slice(0, q))
}

/**
 * `POST {base}/notify`: Exchange's SendNotification, on plain node:http rather than through fastify like
 * the device API. It is the hot path (every new mail of every user), and fastify's routing, hooks and
 * content-type parsing cost about a tenth of the CPU of a notification (bench/README.md, "ENS").
 * Only SOAP SendNotification is accepted; errors never echo the URL (it carries `creds`).
 */
export function handleNotify (req: IncomingMessage, res: ServerResponse, service: EnsService, log: Logger): void {
  if (req.method !== 'POST') return refuse(res, 'GW_ROUTE_METHOD_NOT_ALLOWED', undefined, { allow: 'POST' })
  if (!XML_TYPE.test(req.headers['content-type'] ?? '')) return refuse(res, 'GW_ENS_UNSUPPORTED_MEDIA')
  const action = String(req.headers.soapaction ?? '').replace(/"/g, '')
  if (action !== '' && action !== SEND_NOTIFICATION) return refuse(res, 'GW_ENS_BAD_NOTIFICATION', 'only SOAP SendNotification is accepted here')
  const url = req.url ?? ''
  const query = new URLSearchParams(url.slice(url.indexOf('?') + 1))
  // The callback is authenticated (handle and secret from the query) before a byte of its body is
  // read: an unauthenticated body costs nothing but the time to refuse it.
  service.authenticate(query.get('id') ?? '', query.get('s') ?? '').then(subscription => {
    if (!subscription) return reply(res, 200, sendNotificationResult('Unsubscribe'), 'text/xml; charset=utf-8', { connection: 'close' })
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > MAX_BODY) return refuse(res, 'GW_PROTOCOL_BODY_TOO_LARGE', undefined, { connection: 'close' })
    readBounded(req, MAX_BODY, body => {
      if (!body) return refuse(res, 'GW_PROTOCOL_BODY_TOO_LARGE', undefined, { connection: 'close' })
      answer(body.toString('utf8'), query.get('creds') ?? '', subscription, service).then(
        ({ status, body, type, headers }) => reply(res, status, body, type, headers),
        (err: Error & { code?: string }) => failed(res, log, err))
    })
  }, (err: Error & { code?: string }) => failed(res, log, err))
}

function failed (res: ServerResponse, log: Logger, err: Error & { code?: string }): void {
  // The store is down: Exchange keeps the notification and delivers it again later.
  if (err instanceof StoreUnavailableError) return refuse(res, 'GW_STORE_UNAVAILABLE', undefined, { 'retry-after': '30' })
  log.error({ code: err.code, message: err.message }, 'ENS request failed')
  refuse(res, 'GW_INTERNAL')
}

/** Reads a body of at most `limit` bytes; `undefined` when it is larger (the rest is not read). */
function readBounded (req: IncomingMessage, limit: number, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size <= limit) {
      chunks.push(chunk)
      return
    }
    req.removeAllListeners('data')
    req.removeAllListeners('end')
    done(undefined)
  })
  req.on('end', () => done(Buffer.concat(chunks)))
}

interface Answer { status: number, body: string, type: string, headers?: Record<string, string> }

async function answer (xml: string, ciphertext: string, subscription: Subscription, service: EnsService): Promise<Answer> {
  let notification
  try {
    notification = parseSendNotification(xml)
  } catch (err) {
    if (!(err instanceof NotificationParseError)) throw err
    return { ...replyBody('ens', gatewayReply(err.code, err.message)) }
  }
  const outcome = await service.notify(subscription, ciphertext, notification)
  if ('retry' in outcome) return { ...replyBody('ens', gatewayReply('GW_ENS_RETRY_LATER')), headers: { 'retry-after': '30' } }
  return { status: 200, body: sendNotificationResult(outcome.answer), type: 'text/xml; charset=utf-8' }
}

function reply (res: ServerResponse, status: number, body: string, type: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** An answer in the gateway's one ENS reply form (gateway/replies/write-reply.ts), from its catalogue code. */
function refuse (res: ServerResponse, code: ErrorCode, message?: string, headers?: Record<string, string>): void {
  const { status, type, body } = replyBody('ens', gatewayReply(code, message))
  reply(res, status, body, type, headers)
}
