import type { ConnectionPool } from './connection-pool.js'
import type { ResponseHandler } from './connection.js'
import { UpstreamError } from './connection.js'

/** A request the gateway makes itself (health checks, credential checks, ENS's EWS calls), answered in memory. */
export interface BufferedRequest {
  method: string
  path: string
  /** Lower-case names; `host` is the server's own unless given. */
  headers: Readonly<Record<string, string>>
  body?: Buffer | string
  /** For the head of the answer, then between pieces of its body. */
  timeoutMs: number
  /** Answers larger than this fail (UPSTREAM_ANSWER_TOO_LARGE); default 4 MiB. */
  maxBytes?: number
}

export interface BufferedAnswer {
  status: number
  /** Lower-case names; repeated fields joined with ", " (Set-Cookie is not read by these callers). */
  headers: Record<string, string>
  body: Buffer
}

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024

/**
 * Sends one request on the server's own connections (the transport proxied traffic uses: same TLS
 * settings, same pool) and reads the answer into memory. Rejects with the transport's errors, which
 * gateway/upstream/classify.ts tells apart. A small helper over the streaming handler interface.
 */
export function bufferedRequest (connections: ConnectionPool, host: string, request: BufferedRequest): Promise<BufferedAnswer> {
  return new Promise((resolve, reject) => {
    const headers: string[] = []
    let hasHost = false
    for (const [name, value] of Object.entries(request.headers)) {
      if (name === 'host') hasHost = true
      headers.push(name, value)
    }
    if (!hasHost) headers.unshift('host', host)
    const limit = request.maxBytes ?? DEFAULT_MAX_BYTES
    let status = 0
    let rawHeaders: string[] = []
    const chunks: Buffer[] = []
    let size = 0
    let abort: ((err?: Error) => void) | undefined
    const handler: ResponseHandler = {
      onConnect: abortRequest => { abort = abortRequest },
      onHeaders: (statusCode, raw) => {
        if (statusCode >= 200) { status = statusCode; rawHeaders = raw }
        return true
      },
      onData: chunk => {
        size += chunk.length
        if (size > limit) abort?.(new UpstreamError('UPSTREAM_ANSWER_TOO_LARGE', `answer larger than ${limit} bytes`))
        else chunks.push(chunk)
        return true
      },
      onComplete: () => resolve({ status, headers: flatten(rawHeaders), body: Buffer.concat(chunks, size) }),
      onError: reject
    }
    const body = request.body === undefined ? null : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body)
    connections.dispatch({ method: request.method, path: request.path, headers, body, headersTimeoutMs: request.timeoutMs, bodyTimeoutMs: request.timeoutMs }, handler)
  })
}

function flatten (raw: string[]): Record<string, string> {
  const flat: Record<string, string> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    const value = raw[i + 1] as string
    flat[name] = flat[name] === undefined ? value : `${flat[name]}, ${value}`
  }
  return flat
}
