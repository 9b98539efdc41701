import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ServiceName } from '../config/schema.js'

/** Per-request state, filled stage by stage (route → identify → forward) and read by the log line. */
export interface ProxyContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly startedAt: number
  readonly clientIp: string
  service: ServiceName | undefined
  /** Canonical path (what routing decided on and what the upstream receives) and raw query. */
  path: string
  query: string
  command: string | undefined
  /** Set for long-polls: their upstream timeout. */
  longPollMs: number | undefined
  upstream: string | undefined
  server: string | undefined
  attempts: number
  /** Why the gateway answered itself instead of an upstream, for the log. */
  note: string | undefined
  /** Abandons the upstream attempt (shutdown); set while forwarding. */
  interrupt: (() => void) | undefined
  /** Observers of the upstream's answer (the device inventory): called with its status once it is done. */
  onAnswered: ((status: number) => void) | undefined
}

/** `clientIp` is the client as the gateway decided it (listen.trustedProxies applied: gateway/net/client-address.ts). */
export function createContext (req: IncomingMessage, res: ServerResponse, clientIp: string): ProxyContext {
  return {
    req,
    res,
    startedAt: performance.now(),
    clientIp,
    service: undefined,
    path: '',
    query: '',
    command: undefined,
    longPollMs: undefined,
    upstream: undefined,
    server: undefined,
    attempts: 0,
    note: undefined,
    interrupt: undefined,
    onAnswered: undefined
  }
}
