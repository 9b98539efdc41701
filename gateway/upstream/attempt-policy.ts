import type { RetryConfig } from '../config/schema.js'
import { isIdempotent } from './classify.js'

/** How a failed attempt ended, as far as deciding on the next one goes. */
export type AttemptFailure =
  | { kind: 'http_503' }
  | { kind: 'failed', reason: 'connect' | 'reset' | 'timeout', beforeSend: boolean, responseStarted: boolean }

/** What is known of the request and its attempts so far. */
export interface AttemptFacts {
  /** Attempts made, the failed one included. */
  attempts: number
  /** A server of the pool this request has not tried yet. */
  untried: boolean
  method: string
  /** The body is in memory (or there is none) and no NTLM connection is pinned: it can be sent again. */
  replayable: boolean
  /** A streamed body the failed attempt never read from (so it can still go elsewhere). */
  bodyUntouched: boolean
  /** The client connection owns one upstream connection (NTLM/Negotiate): no other server will do. */
  pinned: boolean
  /** A held long-poll: a timeout is its normal end and is not replayed. */
  longPoll: boolean
}

export type NextStep =
  | { retry: true, afterMs: number }
  /** `unreplayable`: 502/504 (the server may have processed it); `exhausted`: 503 with Retry-After. */
  | { retry: false, final: 'unreplayable' | 'exhausted' }

/**
 * The one retry policy, a pure function: the proxy's attempt loop (gateway/proxy/forward.ts) and the
 * gateway's own requests (UpstreamPool.request: ENS's EWS calls, credential checks) both ask it. A
 * server-level 503 or a failure before the request left is replayed on another server; a reset or
 * timeout only for an idempotent method with the body in memory; nothing once the answer started.
 * Backoff is full jitter (Envoy): random in [0, base × 2^(n-1)), capped. The caller then takes the
 * retry from the pool's retry budget, and gives up (exhausted) when the budget says no.
 */
export function nextStep (failure: AttemptFailure, facts: AttemptFacts, retry: RetryConfig, random: () => number = Math.random): NextStep {
  const canReplay = failure.kind === 'failed'
    ? !failure.responseStarted && !facts.pinned && (failure.beforeSend
        ? facts.bodyUntouched
        : facts.replayable && isIdempotent(facts.method) && (failure.reason !== 'timeout' || !facts.longPoll))
    : facts.replayable
  if (!canReplay) return UNREPLAYABLE
  if (facts.attempts >= retry.maxAttempts || !facts.untried) return EXHAUSTED
  return { retry: true, afterMs: random() * Math.min(retry.maxBackoffMs, retry.baseBackoffMs * 2 ** (facts.attempts - 1)) }
}

const UNREPLAYABLE: NextStep = { retry: false, final: 'unreplayable' }
const EXHAUSTED: NextStep = { retry: false, final: 'exhausted' }
