import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Identified } from '../protocols/identify.js'
import type { ForwardRequest } from '../proxy/forward.js'
import type { RequestBody } from '../proxy/request-body.js'
import type { Reply } from '../replies/reply.js'
import type { RoutedService } from '../routing/services.js'
import type { UpstreamPool } from '../upstream/pool.js'

/**
 * Per-request state. Each field has one owner, the stage that writes it (named beside it); every
 * stage after it only reads. The request log line reads them all when the answer is done.
 * A held long-poll keeps this object for up to an hour: fields are few and the stages' working data
 * (`identified`) is dropped before forwarding starts.
 */
export interface RequestState {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly startedAt: number
  /** The client as the gateway decided it (listen.trustedProxies applied: gateway/net/client-address.ts). */
  readonly clientIp: string
  /** route: the service, canonical path (what routing decided on and what the upstream receives), raw query. */
  service: RoutedService | undefined
  path: string
  query: string
  /** route: the upstream pool of a published service. */
  pool: UpstreamPool | undefined
  /** classify: the ActiveSync command; for long-polls their upstream timeout. */
  command: string | undefined
  longPollMs: number | undefined
  /** read body. */
  body: RequestBody
  /** identify: who is asking (only while the stages run). */
  identified: Identified | undefined
  /**
   * protect: learns from the upstream's answer to a credentialed request; for a 401 the answer waits
   * for the promise (the failure is recorded before the client sees it). Gets the 401's head and body.
   */
  onAuthAnswer: ((status: number, rawHeaders: readonly string[], body: Buffer) => Promise<void> | undefined) | undefined
  /** admit: observer of the upstream's answer (the device inventory), called once with its status. */
  onAnswered: ((status: number) => void) | undefined
  /** pings: the device key of a held Ping (one per device), and the answer that ends it early. */
  pingKey: string | undefined
  endReply: Reply | undefined
  /** prepare: exactly what goes upstream. */
  forward: ForwardRequest | undefined
  /** forward (the attempt loop): the server of the last attempt, the attempts made, how to abandon it (shutdown). */
  server: string | undefined
  attempts: number
  interrupt: (() => void) | undefined
  /** writeReply: the catalogue code of an answer the gateway made itself, and why (for the log). */
  code: string | undefined
  note: string | undefined
}

const NO_BODY: RequestBody = { kind: 'none' }

export function createRequestState (req: IncomingMessage, res: ServerResponse, clientIp: string): RequestState {
  return {
    req,
    res,
    startedAt: performance.now(),
    clientIp,
    service: undefined,
    path: '',
    query: '',
    pool: undefined,
    command: undefined,
    longPollMs: undefined,
    body: NO_BODY,
    identified: undefined,
    onAuthAnswer: undefined,
    onAnswered: undefined,
    pingKey: undefined,
    endReply: undefined,
    forward: undefined,
    server: undefined,
    attempts: 0,
    interrupt: undefined,
    code: undefined,
    note: undefined
  }
}
