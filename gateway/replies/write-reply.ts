import type { ServerResponse } from 'node:http'
import { statusOf, CATALOGUE } from '../errors/catalogue.js'
import { blockedBody } from '../protocols/activesync-blocked.js'
import { supportsCommonStatus } from '../protocols/activesync-request.js'
import type { RoutedService } from '../routing/services.js'
import type { Reply } from './reply.js'

/** What the writer needs to know of the request it answers, and where it leaves the code for the log. */
export interface ReplyTarget {
  readonly res: ServerResponse
  readonly req: { readonly method?: string | undefined }
  readonly service: RoutedService | undefined
  readonly command: string | undefined
  code: string | undefined
  note: string | undefined
}

/**
 * The one writer of answers the gateway makes itself (design.md: "one module writes every reply").
 * The form follows the protocol: UCWA clients tell UCWA errors from intermediaries' by the JSON body
 * (UCWA 2.0 API reference, "Errors": `{ code, message }`), so UCWA gets the UCWA error shape; ENS its JSON `{error}`; a blocked
 * ActiveSync 14.0+ command its own WBXML with Status 129; a held Ping ended by shutdown Ping Status 1;
 * everyone else plain text. A reply after the answer started destroys the response (never a short one).
 */
export function writeReply (target: ReplyTarget, reply: Reply): void {
  const { res } = target
  target.code = reply.code
  if (reply.note !== undefined) target.note = reply.note
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  if (reply.exact) {
    res.writeHead(reply.exact.status, [...reply.exact.headers, 'content-length', String(reply.exact.body.length)])
    res.end(reply.exact.body)
    return
  }
  const special = protocolForm(target, reply)
  if (special) {
    res.writeHead(200, { ...reply.headers, ...special.headers, 'content-length': special.body.length })
    res.end(special.body)
    return
  }
  const { status, type, body } = replyBody(target.service, reply)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...reply.headers })
  res.end(body)
}

/** Status, content type and body of a reply in the service's form (also used by ENS's fastify routes). */
export function replyBody (service: RoutedService | undefined, reply: Reply): { status: number, type: string, body: string } {
  const status = reply.status ?? statusOf(reply.code)
  const message = reply.message ?? CATALOGUE[reply.code].message
  if (service === 'ucwa') return { status, type: 'application/json', body: JSON.stringify({ code: UCWA_CODES[status] ?? 'ServiceFailure', message }) }
  if (service === 'ens') return { status, type: 'application/json; charset=utf-8', body: JSON.stringify({ error: message }) }
  return { status, type: 'text/plain; charset=utf-8', body: message + '\n' }
}

const UCWA_CODES: Record<number, string> = {
  400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 413: 'BadRequest', 500: 'ServiceFailure', 502: 'ServiceFailure', 503: 'ServiceUnavailable', 504: 'Timeout'
}

/** ActiveSync answers that are HTTP 200 with a WBXML body: the protocol's own way to say it. */
function protocolForm (target: ReplyTarget, reply: Reply): { body: Buffer, headers: Record<string, string> } | undefined {
  if (target.service !== 'activesync') return undefined
  if ((reply.code === 'GW_SHUTDOWN' || reply.code === 'GW_PING_SUPERSEDED') && target.command === 'Ping') return { body: PING_STATUS_EXPIRED, headers: { 'content-type': WBXML } }
  if ((reply.code === 'GW_POLICY_BLOCKED' || reply.code === 'GW_POLICY_QUARANTINED') && reply.activesync &&
    supportsCommonStatus(reply.activesync.version) && target.req.method === 'POST') {
    // Design.md "Answers to a blocked client": the device shows "blocked" and stops retrying.
    const body = blockedBody(reply.activesync.command)
    if (body) return { body, headers: { 'content-type': WBXML, 'cache-control': 'private' } }
  }
  return undefined
}

const WBXML = 'application/vnd.ms-sync.wbxml'

/**
 * An ActiveSync Ping response with Status 1 ("heartbeat expired, no changes"), in WBXML: the clean way
 * to end a held Ping at shutdown, because the device simply issues its next Ping (to another gateway).
 * Bytes: version 1.3, public id 1, UTF-8, no string table, SWITCH_PAGE Ping (0x0D), <Ping><Status>1.
 */
export const PING_STATUS_EXPIRED = Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x47, 0x03, 0x31, 0x00, 0x01, 0x01])
