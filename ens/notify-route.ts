import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../gateway/observability/log.js'
import { NotificationParseError, parseSendNotification, sendNotificationResult } from './send-notification.js'
import type { EnsService } from './service.js'

const NOTIFY_PATHS = new Set(['/api/ens/notify', '/MailNotifications/api/ens/notify'])
const SEND_NOTIFICATION = 'http://schemas.microsoft.com/exchange/services/2006/messages/SendNotification'
const XML_TYPE = /^\s*(text\/xml|application\/soap\+xml)\s*(;|$)/i
const MAX_BODY = 1_048_576

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
  if (req.method !== 'POST') return reply(res, 405, JSON.stringify({ error: 'POST only' }), 'application/json', { allow: 'POST' })
  if (!XML_TYPE.test(req.headers['content-type'] ?? '')) return reply(res, 415, JSON.stringify({ error: 'expected text/xml' }), 'application/json')
  const action = String(req.headers.soapaction ?? '').replace(/"/g, '')
  if (action !== '' && action !== SEND_NOTIFICATION) return reply(res, 400, JSON.stringify({ error: 'only SOAP SendNotification is accepted here' }), 'application/json')
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY) return reply(res, 413, JSON.stringify({ error: 'body too large' }), 'application/json')
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size > MAX_BODY) {
      req.removeAllListeners('data')
      req.resume()
      return reply(res, 413, JSON.stringify({ error: 'body too large' }), 'application/json')
    }
    chunks.push(chunk)
  })
  req.on('end', () => {
    if (res.headersSent) return
    answer(Buffer.concat(chunks).toString('utf8'), req.url ?? '', service).then(
      ({ status, body, type, headers }) => reply(res, status, body, type, headers),
      (err: Error & { code?: string }) => {
        log.error({ code: err.code, message: err.message }, 'ENS request failed')
        reply(res, 500, JSON.stringify({ error: 'internal error' }), 'application/json')
      })
  })
}

interface Answer { status: number, body: string, type: string, headers?: Record<string, string> }

async function answer (xml: string, url: string, service: EnsService): Promise<Answer> {
  let notification
  try {
    notification = parseSendNotification(xml)
  } catch (err) {
    if (!(err instanceof NotificationParseError)) throw err
    return { status: 400, body: JSON.stringify({ error: err.message }), type: 'application/json' }
  }
  const query = new URLSearchParams(url.slice(url.indexOf('?') + 1))
  const outcome = await service.notify(query.get('id') ?? '', query.get('s') ?? '', query.get('creds') ?? '', notification)
  if ('retry' in outcome) return { status: 503, body: JSON.stringify({ error: 'temporarily unavailable' }), type: 'application/json', headers: { 'retry-after': '30' } }
  return { status: 200, body: sendNotificationResult(outcome.answer), type: 'text/xml; charset=utf-8' }
}

function reply (res: ServerResponse, status: number, body: string, type: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
