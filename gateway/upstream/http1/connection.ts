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
  #connecting = true
  #stopBody: (() => void) | undefined

  /** `readyEvent`: 'connect' for TCP, 'secureConnect' for TLS (the request is written before either). */
  constructor (socket: Socket, readyEvent: 'connect' | 'secureConnect', connectTimeoutMs: number, release: (connection: UpstreamConnection, reusable: boolean) => void) {
    this.socket = socket
    this.#release = release
    this.#parser = new ResponseParser(this)
    socket.setNoDelay(true)
    socket.setTimeout(connectTimeoutMs)
    socket.on('data', this.#onData)
    socket.once(readyEvent, this.#onReady)
    socket.once('end', this.#onServerClosed)
    socket.once('close', this.#onServerClosed)
    socket.on('error', this.#fail)
    socket.on('timeout', this.#onTimeout)
  }

  get busy (): boolean { return this.#handler !== undefined }

  send (request: UpstreamRequest, handler: ResponseHandler): void {
    this.#handler = handler
    this.#headersTimeoutMs = request.headersTimeoutMs
    this.#bodyTimeoutMs = request.bodyTimeoutMs
    this.#parser.reset(request.method === 'HEAD')
    if (!this.#connecting) this.socket.setTimeout(request.headersTimeoutMs)
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
      this.#stopBody = pumpBody(body, this.socket, chunked, () => { this.#stopBody = undefined }, this.#fail)
    }
  }

  destroy (): void {
    this.socket.destroy()
  }

  onHead (status: number, headers: string[]): void {
    this.socket.setTimeout(this.#bodyTimeoutMs)
    this.#handler?.onHeaders(status, headers, this.#resume)
  }

  onBody (chunk: Buffer): void {
    if (this.#handler && !this.#handler.onData(chunk)) this.socket.pause()
  }

  onEnd (): void {
    const handler = this.#handler
    this.#handler = undefined
    // A body still being sent when the answer ended (an early 413 or 503): the connection is spent.
    const reusable = this.#parser.keepAlive && this.#stopBody === undefined && !this.socket.destroyed
    this.#stopBody?.()
    this.#stopBody = undefined
    this.#release(this, reusable)
    handler?.onComplete()
  }

  get keepAliveHintMs (): number | undefined { return this.#parser.keepAliveHintMs }

  readonly #resume = (): void => { this.socket.resume() }

  readonly #onReady = (): void => {
    this.#connecting = false
    this.socket.setTimeout(this.#handler ? this.#headersTimeoutMs : 0)
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.#handler) return this.#fail(new UpstreamError('UPSTREAM_BAD_RESPONSE', 'data from the server while no request was pending'))
    try {
      this.#parser.feed(chunk)
    } catch (err) {
      this.#fail(err as Error)
    }
  }

  readonly #onServerClosed = (): void => {
    if (!this.#handler) return this.#release(this, false)
    if (this.#parser.finish()) return // a body delimited by the close ended normally
    this.#fail(new UpstreamError('UPSTREAM_CLOSED', 'the server closed the connection before the answer was complete'))
  }

  readonly #onTimeout = (): void => {
    if (this.#connecting) return this.#fail(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', 'connect timeout', true))
    if (!this.#handler) return this.#release(this, false) // idle keep-alive connection: retire it
    const code = this.#parser.started ? 'UPSTREAM_BODY_TIMEOUT' : 'UPSTREAM_HEADERS_TIMEOUT'
    this.#fail(new UpstreamError(code, 'the server did not answer in time'))
  }

  readonly #fail = (err: Error): void => {
    const handler = this.#handler
    this.#handler = undefined
    this.#stopBody?.()
    this.#stopBody = undefined
    if (this.#connecting && !(err instanceof UpstreamError)) Object.assign(err, { beforeSend: true })
    this.socket.destroy()
    this.#release(this, false)
    handler?.onError(err)
  }
}
