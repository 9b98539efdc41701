import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { listen } from '../../util/listeners.js'

/** One request to an upstream server as the connection sends it. */
export interface UpstreamRequest {
  method: string
  /** Path and query, as the server receives them. */
  path: string
  /** Flat [name, value, ...] list, hop-by-hop headers already removed. */
  headers: string[]
  body: Buffer | Readable | null
  /** Time the server may take for the head of its answer, then between pieces of the body; 0: none. */
  headersTimeoutMs: number
  bodyTimeoutMs: number
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

/**
 * The request head, framed for its body: Content-Length for a body in memory (IIS answers 411 to a
 * POST without one, so an empty POST says 0), chunked coding for a stream of unknown length.
 */
export function requestHead (request: UpstreamRequest, chunked: boolean): string {
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`
  let hasLength = false
  const { headers } = request
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (chunked || Buffer.isBuffer(request.body)) continue // the gateway frames the body itself
      hasLength = true
    }
    head += `${name}: ${headers[i + 1] as string}\r\n`
  }
  const { body } = request
  if (Buffer.isBuffer(body)) head += `content-length: ${body.length}\r\n`
  else if (chunked) head += 'transfer-encoding: chunked\r\n'
  else if (body === null && !hasLength && BODY_METHODS.has(request.method)) head += 'content-length: 0\r\n'
  return head + '\r\n'
}

/** Whether a streamed body needs chunked coding (the client sent no Content-Length). */
export function needsChunking (request: UpstreamRequest): boolean {
  if (request.body === null || Buffer.isBuffer(request.body)) return false
  const { headers } = request
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string
    if (name.length === 14 && name.toLowerCase() === 'content-length') return false
  }
  return true
}

/**
 * Streams a request body into the socket with backpressure. Returns a function that stops it (the
 * answer came first, or the attempt failed); what the client still sends is then read and dropped.
 */
export function pumpBody (body: Readable, socket: Socket, chunked: boolean, onEnd: () => void, onError: (err: Error) => void): () => void {
  const onData = (chunk: Buffer): void => {
    let ok: boolean
    if (chunked) {
      socket.cork()
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
      socket.write(chunk)
      ok = socket.write('\r\n', 'latin1')
      socket.uncork()
    } else {
      ok = socket.write(chunk)
    }
    if (!ok) {
      body.pause()
      socket.once('drain', onDrain)
    }
  }
  const onDrain = (): void => { body.resume() }
  const finish = (): void => {
    stop()
    if (chunked) socket.write('0\r\n\r\n', 'latin1')
    onEnd()
  }
  const fail = (err: Error): void => { stop(); onError(err) }
  const closedEarly = (): void => { fail(new Error('the request body ended before it was complete')) }
  const stopBody = listen(body, { data: onData, end: finish, error: fail, close: closedEarly })
  const stop = (): void => {
    stopBody()
    socket.off('drain', onDrain)
  }
  return () => {
    stop()
    body.resume()
  }
}
