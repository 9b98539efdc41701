import type { ServerResponse } from 'node:http'
import type { ServiceName } from '../config/schema.js'

/**
 * Answers the gateway gives itself. UCWA clients tell UCWA errors from intermediaries' by the JSON
 * body (reference/ucwa.md §1.8), so UCWA gets the UCWA error shape; everyone else plain text.
 */
export function answer (res: ServerResponse, status: number, service: ServiceName | undefined, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const body = service === 'ucwa'
    ? JSON.stringify({ code: UCWA_CODES[status] ?? 'ServiceFailure', message })
    : message + '\n'
  res.writeHead(status, {
    'content-type': service === 'ucwa' ? 'application/json' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers
  })
  res.end(body)
}

const UCWA_CODES: Record<number, string> = {
  400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 502: 'ServiceFailure', 503: 'ServiceUnavailable', 504: 'Timeout'
}

/**
 * An ActiveSync Ping response with Status 1 ("heartbeat expired, no changes"), in WBXML: the clean way
 * to end a held Ping at shutdown, because the device simply issues its next Ping (to another gateway).
 * Bytes: version 1.3, public id 1, UTF-8, no string table, SWITCH_PAGE Ping (0x0D), <Ping><Status>1.
 */
export const PING_STATUS_EXPIRED = Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x47, 0x03, 0x31, 0x00, 0x01, 0x01])
