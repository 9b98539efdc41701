import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { LoadedConfig } from '../config/load.js'
import type { Logger } from '../observability/log.js'

/**
 * The public listener (HTTP or HTTPS). Node's parser (llhttp) already refuses conflicting
 * Content-Length/Transfer-Encoding, bad chunking and oversized heads; here those become a 400 or 431
 * with `Connection: close` instead of a silent drop, and CONNECT is refused: this is not an open proxy.
 */
export function createMainServer (config: LoadedConfig, handler: (req: IncomingMessage, res: ServerResponse) => void, log: Logger, afterPending: (socket: Socket, fn: () => void) => void = (_s, fn) => fn()): Server {
  const options: ServerOptions = {
    maxHeaderSize: config.listen.maxHeaderBytes,
    requestTimeout: config.listen.requestTimeoutMs,
    // Node requires headersTimeout <= requestTimeout (0: no request deadline).
    headersTimeout: config.listen.requestTimeoutMs === 0 ? 60_000 : Math.min(60_000, config.listen.requestTimeoutMs),
    keepAliveTimeout: 30_000,
    requireHostHeader: true,
    joinDuplicateHeaders: false
  }
  const server = config.listen.tls
    ? createHttpsServer({ ...options, cert: readFileSync(config.listen.tls.cert), key: readFileSync(config.listen.tls.key) }, handler)
    : createHttpServer(options, handler)
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    if (err.code !== 'ECONNRESET') log.warn({ code: err.code, status }, 'malformed request refused')
    // A malformed request pipelined behind good ones is answered after them, in order.
    afterPending(socket as Socket, () => refuse(socket, status))
  })
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    log.warn({ method: 'CONNECT' }, 'CONNECT refused: not an open proxy')
    refuse(socket, 405)
  })
  return server
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }

function refuse (socket: Duplex, status: number): void {
  const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean, writableFinished?: boolean } })._httpMessage
  if (!socket.writable || (pending?.headersSent && !pending.writableFinished)) {
    socket.destroy()
    return
  }
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy())
}
