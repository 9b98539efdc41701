import type { Socket } from 'node:net'
import { ResponseParser, type ResponseSink } from './response-parser.js'
import { needsChunking, pumpBody, requestHead, type UpstreamRequest } from './request-writer.js'

/** What one request's answer is handed to (the shape of undici's dispatch handler, which it replaces). */
export interface ResponseHandler {
  /** Called before anything is sent: `abort` drops the request and its connection. */
  onConnect: (abort: (err?: Error) => void) => void
  onHeaders: (status: number, headers: string[], resume: () => void) => boolean
  /** False pauses the server's socket until `resume` is called. */
  onData: (chunk: Buffer) => boolean
  onComplete: () => void
  onError: (err: Error) => void
}

/** An error with the code the attempt loop classifies by; `beforeSend` when the request surely never left. */
export class UpstreamError extends Error {
  readonly code: string
  readonly beforeSend: boolean
  constructor (code: string, message: string, beforeSend = false) {
    super(message)
    this.code = code
    this.beforeSend = beforeSend
  }
}

/**
 * One keep-alive connection to an upstream server, carrying one request at a time. The state of a
 * request is a handful of fields here, with no per-request objects beyond the parser's output: this is
 * what an hour-long held Ping costs besides its socket.
 */
export class UpstreamConnection implements ResponseSink {
  readonly socket: Socket
  readonly #parser: ResponseParser
  readonly #release: (connection: UpstreamConnection, reusable: boolean) => void
  #handler: ResponseHandler | undefined
  #bodyTimeoutMs = 0
  #headersTimeoutMs = 0
  /**
   * When the final response head must have arrived (0: none pending). The socket's idle timeout is
   * re-armed to what is left on every byte before it, so a server dripping `100 Continue` or one
   * header byte at a time cannot hold a request past timeouts.headersMs.
   */
  #headersDeadline = 0
  #connecting = true
  #stopBody: (() => void) | undefined
  /** The answer ended while the request body was still going out: the connection returns once it is sent. */
  #releaseWhenSent = false

  /** `readyEvent`: 'connect' for TCP, 'secureConnect' for TLS (the request is written before either). */
  constructor (socket: Socket, readyEvent: 'connect' | 'secureConnect', connectTimeoutMs: number, release: (connection: UpstreamConnection, reusable: boolean) => void) {
    this.socket = socket
    this.#release = release
    this.#parser = new ResponseParser(this)
    socket.setNoDelay(true)
    socket.setTimeout(connectTimeoutMs)
    // Shared listener functions that find their connection on the socket: no closures per connection
    // (a held Ping keeps its connection for up to an hour, thousands at once).
    ;(socket as OwnedSocket)[OWNER] = this
    socket.on('data', UpstreamConnection.#onData)
    socket.on(readyEvent, UpstreamConnection.#onReady)
    socket.on('end', UpstreamConnection.#onServerClosed)
    socket.on('close', UpstreamConnection.#onServerClosed)
    socket.on('error', UpstreamConnection.#onError)
    socket.on('timeout', UpstreamConnection.#onTimeout)
  }

  send (request: UpstreamRequest, handler: ResponseHandler): void {
    this.#handler = handler
    this.#headersTimeoutMs = request.headersTimeoutMs
    this.#bodyTimeoutMs = request.bodyTimeoutMs
    this.#parser.reset(request.method === 'HEAD')
    if (!this.#connecting) this.#startHeadersDeadline()
    handler.onConnect(err => { if (this.#handler === handler) this.#fail(err ?? new UpstreamError('UPSTREAM_ABORTED', 'request aborted')) })
    if (this.#handler !== handler) return // aborted at once
    const chunked = needsChunking(request)
    const head = requestHead(request, chunked)
    const { body } = request
    if (body === null) {
      this.socket.write(head, 'latin1')
    } else if (Buffer.isBuffer(body)) {
      this.socket.cork()
      this.socket.write(head, 'latin1')
      this.socket.write(body)
      this.socket.uncork()
    } else {
      this.socket.write(head, 'latin1')
      this.#stopBody = pumpBody(body, this.socket, chunked, () => { this.#bodySent() }, err => { this.#fail(err) })
    }
  }

  destroy (): void {
    this.socket.destroy()
  }

  #startHeadersDeadline (): void {
    this.#headersDeadline = this.#headersTimeoutMs > 0 ? Date.now() + this.#headersTimeoutMs : 0
    this.socket.setTimeout(this.#headersTimeoutMs)
  }

  onHead (status: number, headers: string[]): void {
    this.#headersDeadline = 0
    this.socket.setTimeout(this.#bodyTimeoutMs)
    this.#handler?.onHeaders(status, headers, () => { this.socket.resume() })
  }

  onBody (chunk: Buffer): void {
    if (this.#handler && !this.#handler.onData(chunk)) this.socket.pause()
  }

  onEnd (): void {
    const handler = this.#handler
    this.#handler = undefined
    const reusable = this.#parser.keepAlive && !this.socket.destroyed
    if (this.#stopBody && reusable) {
      // An answer before the whole body (nginx's `return`, an early 413): a server that keeps the
      // connection reads the rest, so the rest is sent, within the body timeout, and then it is reused.
      this.#releaseWhenSent = true
    } else {
      this.#retire(reusable)
    }
    handler?.onComplete()
  }

  #bodySent (): void {
    this.#stopBody = undefined
    if (!this.#releaseWhenSent) return
    this.#releaseWhenSent = false
    this.#release(this, true)
  }

  /** Back to the pool (or closed): whatever of a request body was still going out is dropped. */
  #retire (reusable: boolean): void {
    this.#stopBody?.()
    this.#stopBody = undefined
    this.#releaseWhenSent = false
    this.#release(this, reusable)
  }

  get keepAliveHintMs (): number | undefined { return this.#parser.keepAliveHintMs }

  static #onReady (this: Socket): void {
    const self = (this as OwnedSocket)[OWNER]
    self.#connecting = false
    if (self.#handler) self.#startHeadersDeadline()
    else this.setTimeout(0)
  }

  static #onData (this: Socket, chunk: Buffer): void {
    const self = (this as OwnedSocket)[OWNER]
    if (!self.#handler) return self.#fail(new UpstreamError('UPSTREAM_BAD_RESPONSE', 'data from the server while no request was pending'))
    if (self.#headersDeadline !== 0) {
      const left = self.#headersDeadline - Date.now()
      if (left <= 0) return self.#fail(new UpstreamError('UPSTREAM_HEADERS_TIMEOUT', 'the server did not answer in time'))
      this.setTimeout(left)
    }
    try {
      self.#parser.feed(chunk)
    } catch (err) {
      self.#fail(err as Error)
    }
  }

  static #onServerClosed (this: Socket): void {
    const self = (this as OwnedSocket)[OWNER]
    if (!self.#handler) return self.#retire(false)
    if (self.#parser.finish()) return // a body delimited by the close ended normally
    self.#fail(new UpstreamError('UPSTREAM_CLOSED', 'the server closed the connection before the answer was complete'))
  }

  static #onError (this: Socket, err: Error): void {
    (this as OwnedSocket)[OWNER].#fail(err)
  }

  static #onTimeout (this: Socket): void {
    const self = (this as OwnedSocket)[OWNER]
    if (self.#connecting) return self.#fail(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', 'connect timeout', true))
    if (!self.#handler) return self.#retire(false) // idle, or a late body stalled: close it
    const code = self.#headersDeadline === 0 ? 'UPSTREAM_BODY_TIMEOUT' : 'UPSTREAM_HEADERS_TIMEOUT'
    self.#fail(new UpstreamError(code, 'the server did not answer in time'))
  }

  #fail (err: Error): void {
    const handler = this.#handler
    this.#handler = undefined
    if (this.#connecting && !(err instanceof UpstreamError)) Object.assign(err, { beforeSend: true })
    this.socket.destroy()
    this.#retire(false)
    handler?.onError(err)
  }
}

const OWNER = Symbol('upstream connection')
interface OwnedSocket extends Socket { [OWNER]: UpstreamConnection }
