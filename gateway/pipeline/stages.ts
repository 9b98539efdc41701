import { admit } from './admit.js'
import { classify } from './classify.js'
import { identifyClient } from './identify-client.js'
import { limit } from './limit.js'
import { pings } from './pings.js'
import { prepare } from './prepare.js'
import { protect } from './protect.js'
import { readBody } from './read-body.js'
import type { Reply } from '../replies/reply.js'
import { route } from './route.js'
import type { PipelineEnv, Stage } from './stage.js'
import type { RequestState } from './request-state.js'

/**
 * The request path, in order. Each stage is a file of this folder; a new one (account protection,
 * rate limits, pre-authentication) goes into this list where it belongs and nowhere else. After the
 * last stage the request is delivered: forwarded by the attempt loop (gateway/proxy/forward.ts), or
 * served by ENS.
 */
export const STAGES: readonly Stage[] = [
  route, //          canonical target, service, upstream pool, method          (404, 405, 400)
  classify, //       Autodiscover shapes, ActiveSync command, long-poll        (400)
  readBody, //       whole when a rule reads it, else buffered or streamed     (413)
  identifyClient, // who is asking: pure, from the protocol parsers           (400)
  limit, //          rate limits per device, account, client address       (503 X-MS-ASThrottle, 429)
  protect, //        account protection: known-bad, stale, locks, bans         (Exchange's 401, 403, 503)
  admit, //          the policy's verdict and the device inventory           (403, Status 129, 503)
  pings, //          heartbeat range, one held Ping per device                 (Ping Status 5)
  prepare //         exactly what goes upstream
]

/**
 * Runs the stages in order until one replies, then calls `done` with that reply, or with undefined when
 * the request is to be delivered. Driven by callbacks, not an async function: a stage with nothing to do
 * costs a function call, and one that waits costs its own promise and nothing more.
 */
export function runStages (state: RequestState, env: PipelineEnv, done: (reply: Reply | undefined) => void, fail: (err: unknown) => void): void {
  runFrom(0, state, env, done, fail)
}

function runFrom (first: number, state: RequestState, env: PipelineEnv, done: (reply: Reply | undefined) => void, fail: (err: unknown) => void): void {
  for (let i = first; i < STAGES.length; i++) {
    let result
    try {
      result = (STAGES[i] as Stage)(state, env)
    } catch (err) {
      return fail(err)
    }
    if (result === undefined) continue
    if (result instanceof Promise) {
      result.then(reply => reply === undefined ? runFrom(i + 1, state, env, done, fail) : done(reply), fail)
      return
    }
    return done(result)
  }
  state.identified = undefined // a held long-poll keeps the state for an hour, not the stages' working data
  done(undefined)
}
