import { Readable } from 'node:stream'
import type { ConnectionPool } from '../upstream/http1/connection-pool.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import { isIdempotent } from '../upstream/classify.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { UpstreamServer } from '../upstream/server.js'
import { answer } from './answers.js'
import type { ProxyContext } from './context.js'
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
 */
export async function forward (ctx: ProxyContext, pool: UpstreamPool, request: ForwardRequest, deps: ForwardDeps): Promise<void> {
  const { retry } = pool.config
  const replayable = request.body.kind !== 'streamed' && request.pinned === undefined
  const tried = new Set<UpstreamServer>()
  let current: UpstreamAttempt | undefined
  const state = { interrupted: false } // set from the client's close event, outside the loop
  const stopCurrent = (): void => { state.interrupted = true; current?.abort() }
  const onClientGone = (): void => { if (!ctx.res.writableFinished) stopCurrent() }
  ctx.res.once('close', onClientGone)
  ctx.interrupt = stopCurrent // shutdown: the caller answers what was interrupted
  pool.retryBudget.recordRequest()
  let retryAfterHint = 0
  let lastFailure = 'no server available'
  try {
    while (ctx.attempts < retry.maxAttempts && !state.interrupted) {
      if (ctx.attempts > 0) {
        if (!pool.retryBudget.tryAcquire()) {
          deps.log.warn({ upstream: pool.name, service: ctx.service }, 'retry budget exhausted: not replaying')
          break
        }
        await backoff(ctx.attempts, retry.baseBackoffMs, retry.maxBackoffMs)
        if (request.body.kind === 'teed') {
          const copy = await request.body.copy()
          if (!copy) return // the client went away mid-upload
          request.body = { kind: 'buffered', data: copy }
        }
        if (state.interrupted) return
      }
      const server = request.pinned?.server ?? pool.pick(tried)
      if (!server) break
      tried.add(server)
      ctx.attempts++
      ctx.server = server.name
      const outcome = await new Promise<AttemptOutcome>(resolve => {
        // A body kept in memory lets the gateway drop a server-level 503 and answer for itself.
        current = new UpstreamAttempt(ctx.res, replayable, resolve, request.rewriteLocation)
        server.inFlight++
        const connections = request.pinned?.connections ?? server.connections
        connections.dispatch({
          path: ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`,
          method: request.method,
          headers: request.headers,
          body: bodyFor(request.body),
          headersTimeoutMs: ctx.longPollMs ?? deps.headersTimeoutMs,
          bodyTimeoutMs: ctx.longPollMs ?? deps.bodyIdleTimeoutMs
        }, current)
      })
      server.inFlight--
      current = undefined
      const verdict = record(pool, server, outcome, deps)
      if (verdict === 'done') return
      lastFailure = `${server.name}: ${verdict.detail}`
      if (outcome.kind === 'http_503') retryAfterHint = Math.max(retryAfterHint, outcome.retryAfter ?? 0)
      const canReplay = outcome.kind === 'failed'
        ? !outcome.responseStarted && request.pinned === undefined && (outcome.error.beforeSend
            ? bodyUntouched(request.body)
            : replayable && isIdempotent(request.method) && (outcome.error.reason !== 'timeout' || ctx.longPollMs === undefined))
        : replayable
      if (!canReplay) return answerUnreplayable(ctx, outcome, lastFailure)
      if (ctx.attempts < retry.maxAttempts && pool.hasUntried(tried)) {
        deps.metrics.upstreamRetries.inc({ upstream: pool.name, reason: verdict.reason })
        deps.log.warn({ upstream: pool.name, from: server.name, reason: verdict.reason, detail: verdict.detail, service: ctx.service, command: ctx.command }, 'failing over to another server')
      }
    }
    if (state.interrupted) return
    ctx.note = `every attempt failed: ${lastFailure}`
    const after = Math.min(Math.max(retryAfterHint, 5), Math.max(retry.retryAfterCapSeconds, 1))
    answer(ctx.res, 503, ctx.service, 'Service temporarily unavailable, please retry', { 'retry-after': String(after) })
  } finally {
    ctx.interrupt = undefined
    ctx.res.off('close', onClientGone)
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
function answerUnreplayable (ctx: ProxyContext, outcome: AttemptOutcome, detail: string): void {
  ctx.note = `not replayable: ${detail}`
  if (outcome.kind !== 'failed' || outcome.responseStarted) return
  const timeout = outcome.error.reason === 'timeout'
  answer(ctx.res, timeout ? 504 : 502, ctx.service, timeout ? 'Upstream did not answer in time' : 'Upstream connection failed')
}

function bodyFor (body: RequestBody): Buffer | Readable | null {
  return body.kind === 'buffered' ? body.data : body.kind === 'none' ? null : body.stream
}

/** A streamed body may still be sent elsewhere if the failed attempt never read from it. */
function bodyUntouched (body: RequestBody): boolean {
  return body.kind !== 'streamed' || !Readable.isDisturbed(body.stream)
}

function backoff (attempt: number, baseMs: number, maxMs: number): Promise<void> {
  // Full jitter (Envoy): random in [0, base × 2^(n-1)), capped.
  const ms = Math.random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1))
  return ms < 1 ? Promise.resolve() : new Promise(resolve => setTimeout(resolve, ms))
}
