import type { ServerResponse } from 'node:http'
import type { ResponseHandler } from '../upstream/http1/connection.js'
import { classifyError, isServerLevel503, retryAfterSeconds, type AttemptError } from '../upstream/classify.js'
import { responseHeadersFromRaw } from './headers.js'

/** How one attempt ended, as the attempt loop needs to know it. */
export type AttemptOutcome =
  | { kind: 'answered', status: number }
  | { kind: 'http_503', retryAfter: number | undefined, serverHeader: string, passedThrough: boolean }
  | { kind: 'failed', error: AttemptError, responseStarted: boolean }
  | { kind: 'aborted' }

/**
 * One request to one upstream server, as the handler of the gateway's own upstream connection (no
 * intermediate body stream, no promise per chunk). The answer is classified when its
 * head arrives: a server-level 503 that may be replayed is read and dropped, anything else is
 * streamed to the client with backpressure (the upstream connection pauses while the client's socket is full).
 */
export class UpstreamAttempt implements ResponseHandler {
  readonly #res: ServerResponse
  readonly #drop503: boolean
  readonly #done: (outcome: AttemptOutcome) => void
  #abort: ((err?: Error) => void) | undefined
  #discarding = false
  #outcome: AttemptOutcome | undefined
  #resume: (() => void) | undefined
  #aborted = false

  readonly #rewriteLocation: ((location: string) => string) | undefined

  constructor (res: ServerResponse, drop503: boolean, done: (outcome: AttemptOutcome) => void, rewriteLocation?: (location: string) => string) {
    this.#rewriteLocation = rewriteLocation
    this.#res = res
    this.#drop503 = drop503
    this.#done = done
  }

  /** Client gone or shutdown: drop the upstream request. */
  abort (): void {
    this.#aborted = true
    this.#abort?.(new Error('client went away'))
  }

  onConnect (abort: (err?: Error) => void): void {
    this.#abort = abort
    if (this.#aborted) abort(new Error('client went away'))
  }

  onHeaders (statusCode: number, rawHeaders: string[], resume: () => void): boolean {
    if (statusCode < 200) return true // 1xx from the upstream: the client's own 100-continue was answered by Node
    const headers = responseHeadersFromRaw(rawHeaders, statusCode === 451 ? this.#rewriteLocation : undefined)
    if (isServerLevel503(statusCode, headers.throttled)) {
      const retryAfter = retryAfterSeconds(headers.retryAfter)
      if (this.#drop503) {
        this.#discarding = true
        this.#outcome = { kind: 'http_503', retryAfter, serverHeader: headers.server, passedThrough: false }
        return true
      }
      this.#outcome = { kind: 'http_503', retryAfter, serverHeader: headers.server, passedThrough: true }
    } else {
      this.#outcome = { kind: 'answered', status: statusCode }
    }
    const res = this.#res
    if (res.destroyed) return true
    res.writeHead(statusCode, headers.list)
    this.#resume = resume
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.#discarding || this.#res.destroyed) return true
    if (this.#res.write(chunk)) return true
    this.#res.once('drain', this.#onDrain)
    return false
  }

  readonly #onDrain = (): void => { this.#resume?.() }

  onComplete (): void {
    if (!this.#discarding) this.#res.end()
    this.#done(this.#outcome ?? { kind: 'answered', status: 502 })
  }

  onError (err: Error): void {
    if (this.#aborted) return this.#done({ kind: 'aborted' })
    if (this.#discarding && this.#outcome) return this.#done(this.#outcome) // broke while we dropped a 503 anyway
    const responseStarted = this.#outcome !== undefined && !this.#discarding
    if (responseStarted) this.#res.destroy(err) // mid-body failure: the client must see a broken response, never a short one
    this.#done({ kind: 'failed', error: classifyError(err), responseStarted })
  }
}
