import assert from 'node:assert/strict'
import { test } from 'node:test'
import { nextStep, type AttemptFacts } from '../../gateway/upstream/attempt-policy.js'

const RETRY = { maxAttempts: 3, baseBackoffMs: 100, maxBackoffMs: 250, budgetPercent: 20, minRetries: 3, bufferBodyBytes: 1_048_576, retryAfterCapSeconds: 30 }
const POST: AttemptFacts = { attempts: 1, untried: true, method: 'POST', replayable: true, bodyUntouched: true, pinned: false, longPoll: false }
const half = (): number => 0.5

test('a server-level 503 or a failure before sending is replayed, with full-jitter backoff doubling per attempt and capped', () => {
  assert.deepEqual(nextStep({ kind: 'http_503' }, POST, RETRY, half), { retry: true, afterMs: 50 })
  assert.deepEqual(nextStep({ kind: 'failed', reason: 'connect', beforeSend: true, responseStarted: false }, { ...POST, attempts: 2 }, RETRY, half), { retry: true, afterMs: 100 })
  assert.deepEqual(nextStep({ kind: 'http_503' }, { ...POST, attempts: 2 }, { ...RETRY, maxAttempts: 5 }, () => 0.999).retry, true)
  const capped = nextStep({ kind: 'http_503' }, { ...POST, attempts: 4 }, { ...RETRY, maxAttempts: 9 }, () => 0.999)
  assert.ok(capped.retry && capped.afterMs < 250)
})

test('a reset or timeout is replayed only for idempotent methods with the body in memory, and never for a held long-poll\'s timeout', () => {
  const reset = { kind: 'failed', reason: 'reset', beforeSend: false, responseStarted: false } as const
  const timeout = { kind: 'failed', reason: 'timeout', beforeSend: false, responseStarted: false } as const
  assert.deepEqual(nextStep(reset, POST, RETRY, half), { retry: false, final: 'unreplayable' })
  assert.equal(nextStep(reset, { ...POST, method: 'GET' }, RETRY, half).retry, true)
  assert.equal(nextStep(timeout, { ...POST, method: 'OPTIONS' }, RETRY, half).retry, true)
  assert.deepEqual(nextStep(timeout, { ...POST, method: 'GET', longPoll: true }, RETRY, half), { retry: false, final: 'unreplayable' })
  assert.deepEqual(nextStep(reset, { ...POST, method: 'GET', replayable: false }, RETRY, half), { retry: false, final: 'unreplayable' })
})

test('nothing is replayed once the answer started, on a pinned NTLM connection, or with a streamed body already read', () => {
  assert.deepEqual(nextStep({ kind: 'failed', reason: 'reset', beforeSend: false, responseStarted: true }, { ...POST, method: 'GET' }, RETRY, half), { retry: false, final: 'unreplayable' })
  assert.deepEqual(nextStep({ kind: 'failed', reason: 'connect', beforeSend: true, responseStarted: false }, { ...POST, pinned: true }, RETRY, half), { retry: false, final: 'unreplayable' })
  assert.deepEqual(nextStep({ kind: 'failed', reason: 'connect', beforeSend: true, responseStarted: false }, { ...POST, replayable: false, bodyUntouched: false }, RETRY, half), { retry: false, final: 'unreplayable' })
  assert.equal(nextStep({ kind: 'failed', reason: 'connect', beforeSend: true, responseStarted: false }, { ...POST, replayable: false, bodyUntouched: true }, RETRY, half).retry, true)
  assert.deepEqual(nextStep({ kind: 'http_503' }, { ...POST, replayable: false }, RETRY, half), { retry: false, final: 'unreplayable' })
})

test('attempts end at maxAttempts or when every server was tried: the final answer is exhausted (503)', () => {
  assert.deepEqual(nextStep({ kind: 'http_503' }, { ...POST, attempts: 3 }, RETRY, half), { retry: false, final: 'exhausted' })
  assert.deepEqual(nextStep({ kind: 'http_503' }, { ...POST, untried: false }, RETRY, half), { retry: false, final: 'exhausted' })
})
