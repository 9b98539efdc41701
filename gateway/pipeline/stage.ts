import type { LoadedConfig } from '../config/load.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { PolicyGate } from '../policy/gate.js'
import type { HeldPings } from './held-pings.js'
import type { Protection } from './protect.js'
import type { Reply } from '../replies/reply.js'
import type { ClientConnection } from '../server/client-connection.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { RequestState } from './request-state.js'

/** What stages may use besides the request: long-lived parts of the gateway, built once. */
export interface PipelineEnv {
  readonly config: LoadedConfig
  readonly pools: ReadonlyMap<string, UpstreamPool>
  readonly metrics: Metrics
  readonly log: Logger
  /** The policy; absent when the config names no policy file. */
  readonly gate: PolicyGate | undefined
  /** Account protection; absent when `protection` is not configured. */
  readonly protection: Protection | undefined
  /** The held Ping of each device (activesync.onePingPerDevice); absent when off. */
  readonly heldPings: HeldPings | undefined
  /** Whether ENS is enabled (its paths are routed to it; otherwise they are not found). */
  readonly ens: boolean
  /** The state of the client connection a request came on (NTLM pins, authenticated scheme). */
  readonly connectionOf: (req: RequestState['req']) => ClientConnection
  /** `http` or `https`: what X-Forwarded-Proto says. */
  readonly proto: string
  /** The X-Forwarded-For value to send upstream (trusted hops kept). */
  readonly forwardedFor: (req: RequestState['req']) => string
  /** Rewrites a 451's X-MS-Location to the gateway's public origin. */
  readonly rewriteLocation: (location: string) => string
}

/**
 * One step of the request path: fills its own fields of the state and returns a reply, which ends the
 * run, or nothing. Synchronous where it can be (no promise per request for stages that need no I/O).
 */
export type Stage = (state: RequestState, env: PipelineEnv) => Reply | undefined | Promise<Reply | undefined>
