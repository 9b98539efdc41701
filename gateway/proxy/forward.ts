import { Readable } from 'node:stream'
import type { ConnectionPool } from '../upstream/http1/connection-pool.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import { nextStep, type AttemptFailure } from '../upstream/attempt-policy.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { UpstreamServer } from '../upstream/server.js'
import type { RequestState } from '../pipeline/request-state.js'
import { reply } from '../replies/reply.js'
import { writeReply } from '../replies/write-reply.js'
import type { RequestBody } from './request-body.js'
import { UpstreamAttempt, type AttemptOutcome } from './upstream-attempt.js'

export interface ForwardDeps {
  metrics: Metrics
  log: Logger
  /** Upstream timeouts of ordinary requests; long-polls carry their own in the context. */
  headersTimeoutMs: number
  bodyIdleTimeoutMs: number
}

export interface ForwardRequest {
  method: string
  /** Flat [name, value, ...] list. */
  headers: string[]
  body: RequestBody
  /** Set for NTLM/Negotiate connections: the one upstream connection this client connection owns. */
  pinned?: { server: UpstreamServer, connections: ConnectionPool }
  /** Rewrites X-MS-Location of a 451 answer (ActiveSync). */
  rewriteLocation?: (location: string) => string
}

/**
 * The attempt loop: send, classify, fail over, stream back. A server-level 503, a refused connection
 * or a reset before the answer moves the request to another server (body replayed from memory) after a
 * jittered backoff, within maxAttempts and the pool's retry budget. Nothing is retried once a byte
 * of the answer went to the client, nor a non-idempotent request the server may have processed.
 * `onDone` runs when the loop is over, whatever the outcome.
 */
export function forward (ctx: RequestState, pool: UpstreamPool, request: ForwardRequest, deps: ForwardDeps, onDone: () => void): void {
  new Forwarding(ctx, pool, request, deps, onDone).next()
}

/**
 * One request's way through the attempt loop, driven by callbacks rather than an async function: a
 * held long-poll waits here for up to an hour, and a suspended async function (frame, promises) cost
 * more than this object's few fields.
 */
class Forwarding {
  readonly #ctx: RequestState
  readonly #pool: UpstreamPool
  readonly #request: ForwardRequest
  readonly #deps: ForwardDeps
  readonly #onDone: () => void
  readonly #replayable: boolean
  readonly #tried: UpstreamServer[] = [] // an array: a Set costs a 200-byte table per request
  #current: UpstreamAttempt | undefined
  #server: UpstreamServer | undefined
  #interrupted = false
  #retryAfterHint = 0
  #lastFailure = 'no server available'

  constructor (ctx: RequestState, pool: UpstreamPool, request: ForwardRequest, deps: ForwardDeps, onDone: () => void) {
    this.#ctx = ctx
    this.#pool = pool
    this.#request = request
    this.#deps = deps
    this.#onDone = onDone
    this.#replayable = request.body.kind !== 'streamed' && request.pinned === undefined
    ctx.res.on('close', this.#onClientGone) // (not once: its wrapper would be held as long as a long-poll)
    ctx.interrupt = this.#stop // shutdown: the caller answers what was interrupted
    pool.retryBudget.recordRequest()
  }

  readonly #stop = (): void => {
    this.#interrupted = true
    this.#current?.abort()
  }

  readonly #onClientGone = (): void => {
    if (!this.#ctx.res.writableFinished) this.#stop()
  }

  /** Starts the first attempt. */
  next (): void {
    if (this.#interrupted) return this.#finish()
    this.#send()
  }

  /** Starts another attempt after `afterMs` (the attempt policy's backoff), if the retry budget allows one. */
  #retry (afterMs: number): void {
    if (this.#interrupted) return this.#finish()
    if (!this.#pool.retryBudget.tryAcquire()) {
      this.#deps.log.warn({ upstream: this.#pool.name, service: this.#ctx.service }, 'retry budget exhausted: not replaying')
      return this.#answerExhausted()
    }
    if (afterMs < 1) return this.#replay()
    setTimeout(() => { this.#guard(() => this.#replay()) }, afterMs)
  }

  #replay (): void {
    const { body } = this.#request
    if (body.kind !== 'teed') return this.#interrupted ? this.#finish() : this.#send()
    body.copy().then(copy => {
      this.#guard(() => {
        if (!copy) return this.#finish() // the client went away mid-upload
        this.#request.body = { kind: 'buffered', data: copy }
        if (this.#interrupted) return this.#finish()
        this.#send()
      })
    }, err => { this.#guard(() => { throw err }) })
  }

  #send (): void {
    const ctx = this.#ctx
    const request = this.#request
    const server = request.pinned?.server ?? this.#pool.pick(this.#tried)
    if (!server) return this.#answerExhausted()
    this.#tried.push(server)
    ctx.attempts++
    ctx.server = server.name
    this.#server = server
    // A body kept in memory lets the gateway drop a server-level 503 and answer for itself.
    this.#current = new UpstreamAttempt(ctx.res, this.#replayable, this.#onOutcome, request.rewriteLocation, ctx.onAuthAnswer)
    server.attemptStarted()
    const connections = request.pinned?.connections ?? server.connections
    connections.dispatch({
      path: ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`,
      method: request.method,
      headers: request.headers,
      body: bodyFor(request.body),
      headersTimeoutMs: ctx.longPollMs ?? this.#deps.headersTimeoutMs,
      bodyTimeoutMs: ctx.longPollMs ?? this.#deps.bodyIdleTimeoutMs
    }, this.#current)
  }

  readonly #onOutcome = (outcome: AttemptOutcome): void => {
    this.#guard(() => {
      const server = this.#server as UpstreamServer
      const ctx = this.#ctx
      const request = this.#request
      server.attemptEnded()
      this.#current = undefined
      const verdict = record(this.#pool, server, outcome, this.#deps)
      if (outcome.kind === 'answered' && ctx.onAnswered) {
        ctx.onAnswered(outcome.status) // the upstream's own answer (never one the gateway made)
        ctx.onAnswered = undefined
      }
      if (verdict === 'done') return this.#finish()
      this.#lastFailure = `${server.name}: ${verdict.detail}`
      if (outcome.kind === 'http_503') this.#retryAfterHint = Math.max(this.#retryAfterHint, outcome.retryAfter ?? 0)
      const failure: AttemptFailure = outcome.kind === 'failed'
        ? { kind: 'failed', reason: outcome.error.reason, beforeSend: outcome.error.beforeSend, responseStarted: outcome.responseStarted }
        : { kind: 'http_503' }
      const step = nextStep(failure, {
        attempts: ctx.attempts,
        untried: this.#pool.hasUntried(this.#tried),
        method: request.method,
        replayable: this.#replayable,
        bodyUntouched: bodyUntouched(request.body),
        pinned: request.pinned !== undefined,
        longPoll: ctx.longPollMs !== undefined
      }, this.#pool.config.retry)
      if (!step.retry) {
        if (step.final === 'exhausted') return this.#answerExhausted()
        answerUnreplayable(ctx, outcome, this.#lastFailure)
        return this.#finish()
      }
      this.#deps.metrics.upstreamRetries.inc({ upstream: this.#pool.name, reason: verdict.reason })
      this.#deps.log.warn({ upstream: this.#pool.name, from: server.name, reason: verdict.reason, detail: verdict.detail, service: ctx.service, command: ctx.command }, 'failing over to another server')
      this.#retry(step.afterMs)
    })
  }

  /** Every attempt failed (or none could be made): 503 with a Retry-After. */
  #answerExhausted (): void {
    if (!this.#interrupted) {
      const { retry } = this.#pool.config
      const after = Math.min(Math.max(this.#retryAfterHint, 5), Math.max(retry.retryAfterCapSeconds, 1))
      writeReply(this.#ctx, reply('GW_UPSTREAM_EXHAUSTED', undefined, { headers: { 'retry-after': String(after) }, note: `every attempt failed: ${this.#lastFailure}` }))
    }
    this.#finish()
  }

  #finish (): void {
    this.#detach()
    this.#onDone()
  }

  #detach (): void {
    this.#ctx.interrupt = undefined
    this.#ctx.res.off('close', this.#onClientGone)
  }

  /** A bug in a callback must not take the process down: log it and answer 500, like the pipeline does. */
  #guard (step: () => void): void {
    try {
      step()
    } catch (err) {
      this.#deps.log.error({ err, service: this.#ctx.service }, 'request failed inside the gateway')
      if (!this.#ctx.res.headersSent) writeReply(this.#ctx, reply('GW_INTERNAL'))
      this.#detach()
    }
  }
}

/** Counts the attempt in metrics and server health; says whether the request is done or failed and why. */
function record (pool: UpstreamPool, server: UpstreamServer, outcome: AttemptOutcome, deps: ForwardDeps): 'done' | { reason: string, detail: string } {
  switch (outcome.kind) {
    case 'answered':
      server.counter(deps.metrics, outcome.status, 'response').inc()
      pool.recordSuccess(server)
      return 'done'
    case 'aborted':
      return 'done'
    case 'http_503': {
      server.counter(deps.metrics, 503, 'server_error').inc()
      pool.recordFailure(server, 'http_503', `503 from ${outcome.serverHeader || 'server'}`, outcome.retryAfter)
      return outcome.passedThrough ? 'done' : { reason: 'http_503', detail: '503' }
    }
    case 'failed':
      server.counter(deps.metrics, 0, outcome.error.reason).inc()
      pool.recordFailure(server, outcome.error.reason, outcome.error.code)
      return { reason: outcome.error.reason, detail: outcome.error.code }
  }
}

/** A failure that must not be replayed: 502 for a broken connection, 504 for a timeout. */
function answerUnreplayable (ctx: RequestState, outcome: AttemptOutcome, detail: string): void {
  ctx.note = `not replayable: ${detail}`
  if (outcome.kind !== 'failed' || outcome.responseStarted) return
  writeReply(ctx, reply(outcome.error.reason === 'timeout' ? 'GW_UPSTREAM_TIMEOUT' : outcome.error.code === 'GW_UPSTREAM_BAD_RESPONSE' ? 'GW_UPSTREAM_BAD_RESPONSE' : 'GW_UPSTREAM_CONNECT'))
}

function bodyFor (body: RequestBody): Buffer | Readable | null {
  return body.kind === 'buffered' ? body.data : body.kind === 'none' ? null : body.stream
}

/** A streamed body may still be sent elsewhere if the failed attempt never read from it. */
function bodyUntouched (body: RequestBody): boolean {
  return body.kind !== 'streamed' || !Readable.isDisturbed(body.stream)
}
