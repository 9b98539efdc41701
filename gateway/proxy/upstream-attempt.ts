import type { ServerResponse } from 'node:http'
import type { ResponseHandler } from '../upstream/http1/connection.js'
import { classifyError, isServerLevel503, retryAfterSeconds, type AttemptError } from '../upstream/classify.js'
import { responseHeadersFromRaw } from './headers.js'

/** Learns from the answer to a credentialed request; a promise for a 401 holds that answer until it settles. */
export type AuthObserver = (status: number, rawHeaders: readonly string[], body: Buffer) => Promise<void> | undefined

interface HeldAnswer { status: number, list: string[], raw: string[], chunks: Buffer[], size: number }

const EMPTY = Buffer.alloc(0)
/** A 401's body is a small error page; larger ones are not kept (the client gets the head with no body). */
const MAX_HELD_BODY = 65_536

/** The head of a held answer, its length replaced by the length of what is sent. */
function withLength (list: string[], length: number): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase()
    if (name !== 'content-length' && name !== 'transfer-encoding') out.push(list[i] as string, list[i + 1] as string)
  }
  out.push('content-length', String(length))
  return out
}

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
  /** Account protection's observer: a 401 is held (head and a bounded body) until it has recorded it. */
  readonly #onAuthAnswer: AuthObserver | undefined
  #held: HeldAnswer | undefined

  constructor (res: ServerResponse, drop503: boolean, done: (outcome: AttemptOutcome) => void, rewriteLocation?: (location: string) => string, onAuthAnswer?: AuthObserver) {
    this.#rewriteLocation = rewriteLocation
    this.#onAuthAnswer = onAuthAnswer
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
      if (this.#onAuthAnswer) {
        if (statusCode === 401) {
          this.#held = { status: statusCode, list: headers.list, raw: rawHeaders, chunks: [], size: 0 }
          return true
        }
        void this.#onAuthAnswer(statusCode, rawHeaders, EMPTY)?.catch(() => {}) // a success is learnt without holding the answer
      }
    }
    const res = this.#res
    if (res.destroyed) return true
    res.writeHead(statusCode, headers.list)
    this.#resume = resume
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.#held) {
      if (this.#held.size + chunk.length <= MAX_HELD_BODY) this.#held.chunks.push(chunk)
      this.#held.size += chunk.length
      return true
    }
    if (this.#discarding || this.#res.destroyed) return true
    if (this.#res.write(chunk)) return true
    this.#res.once('drain', this.#onDrain)
    return false
  }

  readonly #onDrain = (): void => { this.#resume?.() }

  onComplete (): void {
    if (this.#held) return this.#releaseHeld(this.#held)
    if (!this.#discarding) this.#res.end()
    this.#done(this.#outcome ?? { kind: 'answered', status: 502 })
  }

  /** The held 401 goes to the client once protection recorded it (a body too large to hold is cut to none). */
  #releaseHeld (held: HeldAnswer): void {
    const body = held.size <= MAX_HELD_BODY ? Buffer.concat(held.chunks, held.size) : EMPTY
    const send = (): void => {
      const res = this.#res
      if (!res.destroyed) {
        res.writeHead(held.status, withLength(held.list, body.length))
        res.end(body)
      }
      this.#done(this.#outcome ?? { kind: 'answered', status: held.status })
    }
    const recorded = (this.#onAuthAnswer as AuthObserver)(held.status, held.raw, body)
    if (recorded) recorded.then(send, send)
    else send()
  }

  onError (err: Error): void {
    if (this.#aborted) return this.#done({ kind: 'aborted' })
    if (this.#discarding && this.#outcome) return this.#done(this.#outcome) // broke while we dropped a 503 anyway
    const responseStarted = this.#outcome !== undefined && !this.#discarding
    if (responseStarted) this.#res.destroy(err) // mid-body failure: the client must see a broken response, never a short one
    this.#done({ kind: 'failed', error: classifyError(err), responseStarted })
  }
}
