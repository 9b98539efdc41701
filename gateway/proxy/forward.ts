import { pipeline, Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Logger } from '../observability/log.js'
import { statusClass, type Metrics } from '../observability/metrics.js'
import { classifyError, isIdempotent, isServerLevel503, retryAfterSeconds } from '../upstream/classify.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { UpstreamServer } from '../upstream/server.js'
import { answer } from './answers.js'
import type { ProxyContext } from './context.js'
import { downstreamResponseHeaders } from './headers.js'
import type { RequestBody } from './request-body.js'

export interface ForwardDeps {
  metrics: Metrics
  log: Logger
  /** Upstream timeouts of ordinary requests; long-polls carry their own in the context. */
  headersTimeoutMs: number
  bodyIdleTimeoutMs: number
}

export interface ForwardRequest {
  method: string
  headers: Record<string, string | string[]>
  body: RequestBody
  /** Set for NTLM/Negotiate connections: the one upstream connection this client connection owns. */
  pinned?: { server: UpstreamServer, dispatcher: Dispatcher }
}

/**
 * The attempt loop: send, classify, fail over, stream back. A server-level 503, a refused connection
 * or a reset before the answer moves the request to another server (body replayed from memory) with a
 * jittered backoff, within maxAttempts and the pool's retry budget. Nothing is retried once a byte
 * of the answer went to the client, nor a non-idempotent request the server may have processed.
 */
export async function forward (ctx: ProxyContext, pool: UpstreamPool, request: ForwardRequest, deps: ForwardDeps): Promise<void> {
  const { retry } = pool.config
  const replayable = request.body.kind !== 'streamed'
  const abort = new AbortController()
  const onClientGone = (): void => { if (!ctx.res.writableFinished) abort.abort() }
  ctx.res.once('close', onClientGone)
  ctx.interrupt = () => abort.abort() // shutdown: the caller answers what was interrupted
  const tried = new Set<UpstreamServer>()
  let retryAfterHint = 0
  let lastFailure = 'no server available'
  pool.retryBudget.recordRequest()
  try {
    while (ctx.attempts < retry.maxAttempts) {
      if (ctx.attempts > 0) {
        if (!pool.retryBudget.tryAcquire()) {
          deps.log.warn({ upstream: pool.name, service: ctx.service }, 'retry budget exhausted: not replaying')
          break
        }
        await backoff(ctx.attempts, retry.baseBackoffMs, retry.maxBackoffMs)
        if (abort.signal.aborted) return
      }
      const server = request.pinned?.server ?? pool.pick(tried)
      if (!server) break
      tried.add(server)
      ctx.attempts++
      ctx.server = server.name
      const outcome = await attempt(ctx, pool, server, request, deps, abort.signal)
      if (outcome.kind === 'done' || abort.signal.aborted) return
      lastFailure = outcome.detail
      retryAfterHint = Math.max(retryAfterHint, outcome.retryAfter ?? 0)
      const canReplay = request.pinned === undefined &&
        (outcome.beforeSend || (replayable && (outcome.kind === 'http_503' || isIdempotent(request.method)))) &&
        (request.body.kind !== 'streamed' || !Readable.isDisturbed(request.body.stream))
      if (!canReplay) {
        finishUnreplayable(ctx, outcome, deps)
        return
      }
      if (outcome.kind === 'http_503') outcome.discard()
      if (ctx.attempts < retry.maxAttempts && pool.hasUntried(tried)) {
        deps.metrics.upstreamRetries.inc({ upstream: pool.name, reason: outcome.kind })
        deps.log.warn({ upstream: pool.name, from: server.name, reason: outcome.kind, detail: outcome.detail, service: ctx.service, command: ctx.command }, 'failing over to another server')
      }
    }
    ctx.note = `every attempt failed: ${lastFailure}`
    const after = Math.min(Math.max(retryAfterHint, 5), retry.retryAfterCapSeconds || 5)
    answer(ctx.res, 503, ctx.service, 'Service temporarily unavailable, please retry', { 'retry-after': String(after) })
  } finally {
    ctx.interrupt = undefined
    ctx.res.off('close', onClientGone)
  }
}

type AttemptOutcome =
  | { kind: 'done' }
  | { kind: 'http_503', detail: string, beforeSend: false, retryAfter: number | undefined, discard: () => void, passThrough: () => void }
  | { kind: 'connect' | 'reset' | 'timeout', detail: string, beforeSend: boolean, retryAfter?: undefined }

/** One attempt on one server. Streams a good answer to the client and reports a failure otherwise. */
async function attempt (ctx: ProxyContext, pool: UpstreamPool, server: UpstreamServer, request: ForwardRequest, deps: ForwardDeps, signal: AbortSignal): Promise<AttemptOutcome> {
  const labels = { upstream: pool.name, server: server.name }
  const timeout = ctx.longPollMs ?? deps.headersTimeoutMs
  const body = request.body.kind === 'buffered' ? request.body.data : request.body.kind === 'streamed' ? request.body.stream : null
  server.inFlight++
  let response: Dispatcher.ResponseData
  try {
    response = await (request.pinned?.dispatcher ?? server.dispatcher).request({
      path: ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`,
      method: request.method as Dispatcher.HttpMethod,
      headers: request.headers,
      body,
      headersTimeout: timeout,
      bodyTimeout: ctx.longPollMs ?? deps.bodyIdleTimeoutMs,
      signal
    })
  } catch (err) {
    server.inFlight--
    if (signal.aborted) return { kind: 'done' }
    const failure = classifyError(err)
    deps.metrics.upstreamRequests.inc({ ...labels, status_class: 'none', outcome: failure.reason })
    pool.recordFailure(server, failure.reason, failure.code)
    return { kind: failure.reason, detail: `${server.name}: ${failure.code}`, beforeSend: failure.beforeSend }
  }
  const { statusCode, headers } = response
  if (isServerLevel503(statusCode, headers)) {
    const retryAfter = retryAfterSeconds(headers['retry-after'])
    deps.metrics.upstreamRequests.inc({ ...labels, status_class: '5xx', outcome: 'server_error' })
    pool.recordFailure(server, 'http_503', `503 from ${String(headers.server ?? 'server')}`, retryAfter)
    const discard = (): void => { server.inFlight--; response.body.dump().catch(() => {}) }
    const passThrough = (): void => sendResponse(ctx, server, response)
    return { kind: 'http_503', detail: `${server.name}: 503`, beforeSend: false, retryAfter, discard, passThrough }
  }
  deps.metrics.upstreamRequests.inc({ ...labels, status_class: statusClass(statusCode), outcome: 'response' })
  pool.recordSuccess(server)
  sendResponse(ctx, server, response)
  return { kind: 'done' }
}

/** Streams an upstream answer to the client; the server's in-flight count drops when it is done. */
function sendResponse (ctx: ProxyContext, server: UpstreamServer, response: Dispatcher.ResponseData): void {
  const { res } = ctx
  if (res.destroyed) {
    server.inFlight--
    response.body.destroy()
    return
  }
  res.writeHead(response.statusCode, downstreamResponseHeaders(response.headers))
  pipeline(response.body, res, () => { server.inFlight-- })
}

/** A failure that must not be replayed: pass a 503 through as it is, map errors to 502/504. */
function finishUnreplayable (ctx: ProxyContext, outcome: Exclude<AttemptOutcome, { kind: 'done' }>, deps: ForwardDeps): void {
  ctx.note = `not replayable: ${outcome.detail}`
  if (outcome.kind === 'http_503') {
    outcome.passThrough()
    deps.log.debug({ service: ctx.service }, 'upstream 503 passed through (body not replayable)')
    return
  }
  answer(ctx.res, outcome.kind === 'timeout' ? 504 : 502, ctx.service, outcome.kind === 'timeout' ? 'Upstream did not answer in time' : 'Upstream connection failed')
}

function backoff (attempt: number, baseMs: number, maxMs: number): Promise<void> {
  // Full jitter (Envoy): random in [0, base × 2^(n-1)), capped.
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1))
  const ms = Math.random() * ceiling
  return ms < 1 ? Promise.resolve() : new Promise(resolve => setTimeout(resolve, ms))
}
