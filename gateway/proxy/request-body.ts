import type { IncomingMessage } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { listen } from '../util/listeners.js'

/**
 * The request body as the attempt loop needs it. Bodies up to the replay limit are read into memory
 * so a failed attempt can be replayed on another server (Envoy keeps 1 MiB, nginx buffers by default);
 * larger ones stream straight through and cannot be replayed once sent (README, "Retries").
 */
export type RequestBody =
  | { kind: 'none' }
  | { kind: 'buffered', data: Buffer }
  | { kind: 'teed', stream: Readable, copy: () => Promise<Buffer | undefined> }
  | { kind: 'streamed', stream: Readable }

/**
 * Bodies up to this size usually arrive with the head; reading them first costs nothing. Larger
 * ones (up to the replay limit) stream to the first server at once while a copy is kept for a replay:
 * measured, waiting for a 100 KB body before sending it cut throughput by more than half.
 */
const READ_FIRST_BYTES = 65_536

export async function readRequestBody (req: IncomingMessage, limit: number): Promise<RequestBody> {
  const lengthHeader = req.headers['content-length']
  const chunked = req.headers['transfer-encoding'] !== undefined
  if (!chunked && (lengthHeader === undefined || lengthHeader === '0')) {
    return { kind: 'none' }
  }
  if (!chunked && Number(lengthHeader) > limit) return { kind: 'streamed', stream: req }
  if (!chunked && Number(lengthHeader) > READ_FIRST_BYTES) return tee(req, limit)
  if (!chunked) return { kind: 'buffered', data: await readAll(req) }
  return readChunked(req, limit)
}

/**
 * Reads the whole body, up to `limit` bytes: for requests a rule inspects (Settings, Provision, an EWS
 * operation), so the gateway decides on exactly the bytes it forwards. `too-large` when the body is
 * larger (announced or sent); the rest is not read, and the caller answers 413 and closes.
 */
export async function readWholeBody (req: IncomingMessage, limit: number): Promise<RequestBody | 'too-large'> {
  const lengthHeader = req.headers['content-length']
  const chunked = req.headers['transfer-encoding'] !== undefined
  if (!chunked && (lengthHeader === undefined || lengthHeader === '0')) return { kind: 'none' }
  if (!chunked && Number(lengthHeader) > limit) return 'too-large'
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (c: Buffer): void => {
      size += c.length
      if (size <= limit) {
        chunks.push(c)
        return
      }
      settle()
      resolve('too-large')
    }
    const onEnd = (): void => { settle(); resolve(size === 0 ? { kind: 'none' } : { kind: 'buffered', data: Buffer.concat(chunks) }) }
    const onError = (err: Error): void => { settle(); reject(err) }
    const onClose = (): void => { if (!req.complete) onError(new Error('client closed the request body')) }
    const settle = listen(req, { data: onData, end: onEnd, error: onError, close: onClose })
  })
}

/** Reads a small body whole, then lets go of the request's events (a held Ping lives on for an hour). */
function readAll (req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const onData = (c: Buffer): void => { chunks.push(c) }
    const onEnd = (): void => { settle(); resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks)) }
    const onError = (err: Error): void => { settle(); reject(err) }
    const onClose = (): void => { if (!req.complete) onError(new Error('client closed the request body')) }
    const settle = listen(req, { data: onData, end: onEnd, error: onError, close: onClose })
  })
}

/** Chunked bodies have no announced length: buffer up to the limit, then stream the rest. */
async function readChunked (req: IncomingMessage, limit: number): Promise<RequestBody> {
  const iterator = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const prefix: Buffer[] = []
  let size = 0
  while (true) {
    const { value, done } = await iterator.next()
    if (done) return size === 0 ? { kind: 'none' } : { kind: 'buffered', data: Buffer.concat(prefix) }
    prefix.push(value)
    size += value.length
    if (size > limit) break
  }
  async function * rest (): AsyncGenerator<Buffer> {
    yield * prefix
    while (true) {
      const { value, done } = await iterator.next()
      if (done) return
      yield value
    }
  }
  return { kind: 'streamed', stream: Readable.from(rest(), { objectMode: false }) }
}

/** Streams the body on while keeping a copy; `copy()` resolves once the client sent all of it. */
function tee (req: IncomingMessage, limit: number): RequestBody {
  const chunks: Buffer[] = []
  // The copy holds the whole body anyway, so the pass-through may too: no backpressure dance per chunk.
  const out = new PassThrough({ highWaterMark: limit })
  const complete = new Promise<Buffer | undefined>(resolve => {
    req.once('end', () => resolve(Buffer.concat(chunks)))
    req.once('close', () => {
      if (req.complete) return
      resolve(undefined)
      out.destroy() // whoever still sends it upstream stops (no error event: nobody may be listening)
    })
  })
  req.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    // A first attempt that ended early (a 503 before the upload finished) no longer reads `out`.
    if (!out.destroyed) out.write(chunk)
  })
  req.once('end', () => out.end())
  req.once('error', err => out.destroy(err))
  return { kind: 'teed', stream: out, copy: () => complete }
}
