import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { LoadedConfig } from '../config/load.js'
import { ClientAddresses } from '../net/client-address.js'
import type { Logger } from '../observability/log.js'
import { statusClass, type Metrics } from '../observability/metrics.js'
import { RequestLog } from '../observability/request-line.js'
import { createRequestState, type RequestState } from '../pipeline/request-state.js'
import { HeldPings } from '../pipeline/held-pings.js'
import type { Protection } from '../pipeline/protect.js'
import type { PipelineEnv } from '../pipeline/stage.js'
import { runStages } from '../pipeline/stages.js'
import type { PolicyGate } from '../policy/gate.js'
import { forward, type ForwardDeps, type ForwardRequest } from '../proxy/forward.js'
import { reply } from '../replies/reply.js'
import { writeReply } from '../replies/write-reply.js'
import type { UpstreamPool } from '../upstream/pool.js'
import { ClientConnection } from './client-connection.js'
import { proxiedAddress } from './proxy-protocol-listener.js'

export interface RequestHandlerDeps {
  config: LoadedConfig
  pools: ReadonlyMap<string, UpstreamPool>
  metrics: Metrics
  log: Logger
  /** ENS, when enabled: serves what routing sent to it, with the client's address as the gateway decided it. */
  ens?: (req: IncomingMessage, res: ServerResponse, client: string) => void
  /** The policy; absent when the config names no policy file. */
  gate?: PolicyGate
  /** Account protection; absent when not configured. */
  protection?: Protection
}

const INTERNAL = reply('GW_INTERNAL')
const SHUTDOWN = reply('GW_SHUTDOWN', undefined, { headers: { connection: 'close', 'retry-after': '1' }, note: 'ended by shutdown' })

/**
 * The main listener's request handler: runs the pipeline's stages (gateway/pipeline/stages.ts), writes
 * the reply a stage made or delivers the request (the attempt loop, or ENS), and writes one log line and
 * the request metrics when the answer is done. Requests in flight are tracked so that shutdown can wait
 * for ordinary ones and end held long-polls cleanly.
 */
export class RequestHandler {
  readonly inFlight = new Set<RequestState>()
  readonly #deps: RequestHandlerDeps
  readonly #env: PipelineEnv
  readonly #forwardDeps: ForwardDeps
  readonly #clients: ClientAddresses
  readonly #connections = new WeakMap<Socket, ClientConnection>()
  readonly #requestLog: RequestLog
  readonly #heldPings: HeldPings | undefined
  readonly #proxyProtocol: boolean

  constructor (deps: RequestHandlerDeps) {
    this.#deps = deps
    this.#requestLog = new RequestLog(deps.log)
    const { timeouts, listen, publicUrl } = deps.config
    this.#forwardDeps = { metrics: deps.metrics, log: deps.log, headersTimeoutMs: timeouts.headersMs, bodyIdleTimeoutMs: timeouts.bodyIdleMs }
    this.#clients = new ClientAddresses(listen.trustedProxies)
    const origin = new URL(publicUrl).origin
    this.#heldPings = deps.config.activesync.onePingPerDevice ? new HeldPings(deps.metrics) : undefined
    this.#proxyProtocol = listen.proxyProtocol
    this.#env = {
      config: deps.config,
      pools: deps.pools,
      metrics: deps.metrics,
      log: deps.log,
      gate: deps.gate,
      protection: deps.protection,
      heldPings: this.#heldPings,
      ens: deps.ens !== undefined,
      connectionOf: req => this.#connectionOf(req.socket),
      proto: listen.tls ? 'https' : 'http',
      forwardedFor: req => this.#forwardedFor(req),
      rewriteLocation: location => rewriteLocation(origin, location)
    }
  }

  /**
   * Requests of one connection are handled one after another (RFC 9112 §9.3.2): Node parses pipelined
   * requests at once, and two POSTs must not reach the upstream in another order than they came.
   */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const connection = this.#connectionOf(req.socket)
    connection.run(req, () => this.#start(req, res, connection))
  }

  /** Runs `fn` once every request already received on `socket` is answered (a 400 to a malformed pipelined request goes after them). */
  afterPending (socket: Socket, fn: () => void): void {
    const connection = this.#connections.get(socket)
    if (connection) connection.whenIdle(fn)
    else fn()
  }

  /** Shutdown: ends a request (the attempt loop's, or one still in the stages) cleanly. */
  interrupt (state: RequestState): void {
    if (state.interrupt) state.interrupt()
    else if (!state.res.writableFinished) state.res.destroy()
  }

  #start (req: IncomingMessage, res: ServerResponse, connection: ClientConnection): void {
    if (res.destroyed) return connection.finished() // the client left while this request waited its turn
    const state = createRequestState(req, res, this.#clients.clientOf(this.#peerOf(req.socket), req.headers['x-forwarded-for']))
    this.inFlight.add(state)
    res.on('close', () => { this.#done(state); connection.finished() }) // 'close' comes once; once() would add a wrapper per request
    runStages(state, this.#env, answer => {
      try {
        if (answer) writeReply(state, answer)
        else this.#deliver(state)
      } catch (err) {
        this.#failed(state, err) // a bug after the stages must not become an unhandled rejection
      }
    }, err => this.#failed(state, err))
  }

  #deliver (state: RequestState): void {
    if (state.service === 'ens') return this.#deps.ens?.(state.req, state.res, state.clientIp)
    forward(state, state.pool as UpstreamPool, state.forward as ForwardRequest, this.#forwardDeps, () => {
      if (!state.res.headersSent && !state.res.destroyed) writeReply(state, state.endReply ?? SHUTDOWN) // the loop was interrupted
    })
  }

  #failed (state: RequestState, err: unknown): void {
    this.#deps.log.error({ err, service: state.service }, 'request failed inside the gateway')
    writeReply(state, INTERNAL)
  }

  #connectionOf (socket: Socket): ClientConnection {
    let connection = this.#connections.get(socket)
    if (!connection) {
      connection = new ClientConnection(socket)
      this.#connections.set(socket, connection)
    }
    return connection
  }

  #forwardedFor (req: IncomingMessage): string {
    const peer = this.#peerOf(req.socket)
    const incoming = req.headers['x-forwarded-for']
    if (incoming && peer && this.#clients.isTrusted(peer)) return `${Array.isArray(incoming) ? incoming.join(', ') : incoming}, ${peer}`
    return peer
  }

  /** The peer of a connection: with listen.proxyProtocol, the client a trusted proxy's header named. */
  #peerOf (socket: Socket): string {
    return this.#proxyProtocol ? peerOf(socket) : socket.remoteAddress ?? ''
  }

  #done (state: RequestState): void {
    this.inFlight.delete(state)
    const { res, service } = state
    const status = res.headersSent ? res.statusCode : 0
    const label = service ?? 'none'
    const durationMs = performance.now() - state.startedAt
    if (state.longPollMs !== undefined) {
      this.#deps.metrics.longPollsInFlight.dec({ service: label })
      this.#heldPings?.release(state)
      if (status === 0 || !res.writableFinished) this.#deps.metrics.longPollsEndedBy(label, 'client').inc()
      else if (state.endReply === undefined && state.code === 'GW_SHUTDOWN') this.#deps.metrics.longPollsEndedBy(label, 'shutdown').inc()
    } else if (service) {
      this.#deps.metrics.requestDurationBy(service).observe(durationMs / 1000)
    }
    this.#deps.metrics.requestsBy(label, status === 0 ? 'aborted' : statusClass(status)).inc()
    this.#requestLog.write({
      service: label,
      command: state.command,
      method: state.req.method,
      path: state.path, // never the query: it can carry credentials (ENS creds)
      status,
      code: state.code,
      upstream: state.pool?.name,
      server: state.server,
      attempts: state.attempts,
      durationMs: Math.round(durationMs * 10) / 10,
      client: state.clientIp,
      completed: res.writableFinished,
      note: state.note
    })
  }
}

/**
 * The peer of a connection: the client a trusted proxy's PROXY header named (listen.proxyProtocol), else
 * the socket's address. Behind TLS the header was read on the raw socket the TLS socket wraps.
 */
function peerOf (socket: Socket): string {
  const raw = (socket as Socket & { _parent?: Socket | null })._parent ?? socket
  return proxiedAddress(raw) ?? socket.remoteAddress ?? ''
}

/**
 * ActiveSync 451 redirects: X-MS-Location must keep pointing at the gateway, because iOS re-points
 * the account for good (MS-ASHTTP: HTTP 451 with X-MS-Location). The path is kept, the origin becomes ours.
 */
function rewriteLocation (origin: string, location: string): string {
  try {
    const url = new URL(location)
    // Always our origin and a single-slash path: `//evil.example/x` must not become a network-path reference.
    return origin + '/' + url.pathname.replace(/^\/+/, '') + url.search
  } catch {
    return origin + '/Microsoft-Server-ActiveSync'
  }
}
