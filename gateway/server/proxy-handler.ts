import { ClientAddresses } from '../net/client-address.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { LoadedConfig } from '../config/load.js'
import type { Logger } from '../observability/log.js'
import { statusClass, type Metrics } from '../observability/metrics.js'
import { RequestLog } from '../observability/request-line.js'
import { activesyncCommand } from '../protocols/activesync-command.js'
import { autodiscoverTargetProblem } from '../protocols/autodiscover-target.js'
import { answer, PING_STATUS_EXPIRED } from '../proxy/answers.js'
import { createContext, type ProxyContext } from '../proxy/context.js'
import { forward, type ForwardDeps, type ForwardRequest } from '../proxy/forward.js'
import { upstreamRequestHeaders } from '../proxy/headers.js'
import { longPollTimeout } from '../proxy/long-poll.js'
import { readRequestBody, readWholeBody } from '../proxy/request-body.js'
import { canonicalTarget } from '../routing/normalize-path.js'
import { ALLOWED_METHODS, serviceForPath } from '../routing/services.js'
import { ClientConnection } from './client-connection.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { PolicyGate } from '../policy/gate.js'
import { DEVICE_INFORMATION_COMMANDS, identify, IdentityError, UCWA_APPLICATIONS, type Identified } from '../policy/identify.js'
import type { ServiceName } from '../config/schema.js'

export interface ProxyHandlerDeps {
  config: LoadedConfig
  pools: ReadonlyMap<string, UpstreamPool>
  metrics: Metrics
  log: Logger
  /** Requests for paths that are not proxied (the ENS API) go here, with the client's address; absent → 404. */
  fallback?: (req: IncomingMessage, res: ServerResponse, client: string) => void
  /** The policy; absent when the config names no policy file. */
  gate?: PolicyGate
}

/** Settings, Provision and EWS bodies a rule reads are read whole up to this size; larger ones get 413. */
const INSPECTED_BODY_BYTES = 1_048_576

/**
 * The request pipeline of the main listener: canonical target → service → identify → forward, with one
 * log line and the request metrics when the answer is done. Requests in flight are tracked so that
 * shutdown can wait for ordinary ones and end held long-polls cleanly.
 */
export class ProxyHandler {
  readonly inFlight = new Set<ProxyContext>()
  readonly #deps: ProxyHandlerDeps
  readonly #forwardDeps: ForwardDeps
  readonly #clients: ClientAddresses
  readonly #proto: string
  readonly #connections = new WeakMap<Socket, ClientConnection>()
  readonly #requestLog: RequestLog

  constructor (deps: ProxyHandlerDeps) {
    this.#deps = deps
    this.#requestLog = new RequestLog(deps.log)
    const { timeouts, listen } = deps.config
    this.#forwardDeps = { metrics: deps.metrics, log: deps.log, headersTimeoutMs: timeouts.headersMs, bodyIdleTimeoutMs: timeouts.bodyIdleMs }
    this.#proto = listen.tls ? 'https' : 'http'
    this.#clients = new ClientAddresses(listen.trustedProxies)
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

  #start (req: IncomingMessage, res: ServerResponse, connection: ClientConnection): void {
    if (res.destroyed) return connection.finished() // the client left while this request waited its turn
    const ctx = createContext(req, res, this.#clients.clientOf(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for']))
    this.inFlight.add(ctx)
    res.on('close', () => { this.#done(ctx); connection.finished() }) // 'close' comes once; once() would add a wrapper per request
    this.#run(ctx).catch(err => {
      this.#deps.log.error({ err, service: ctx.service }, 'request failed inside the gateway')
      answer(res, 500, ctx.service, 'Internal gateway error')
    })
  }

  async #run (ctx: ProxyContext): Promise<void> {
    const { req, res } = ctx
    const target = canonicalTarget(req.url ?? '')
    if (!target.ok) return answer(res, 400, undefined, `Bad request: ${target.reason}`)
    const repeated = repeatedSingletonHeader(req.rawHeaders)
    if (repeated) return answer(res, 400, undefined, `Bad request: more than one ${repeated} header`)
    ctx.path = target.path
    ctx.query = target.query
    const service = serviceForPath(target.path, req.headers.host)
    const published = service && this.#deps.config.services[service]
    if (!service || !published) {
      if (this.#deps.fallback) return this.#deps.fallback(req, res, ctx.clientIp)
      return answer(res, 404, undefined, 'Not found')
    }
    ctx.service = service
    if (!ALLOWED_METHODS[service].has(req.method ?? '')) {
      return answer(res, 405, service, 'Method not allowed', { allow: [...ALLOWED_METHODS[service]].join(', ') })
    }
    if (service === 'autodiscover') {
      const problem = autodiscoverTargetProblem(target.path, req.url ?? '', target.query)
      if (problem) {
        ctx.note = problem
        return answer(res, 400, service, `Bad request: ${problem}`)
      }
    }
    if (service === 'activesync') ctx.command = activesyncCommand(target.query)
    ctx.longPollMs = longPollTimeout(service, ctx.command, target.path.toLowerCase(), this.#deps.config.timeouts)
    if (ctx.longPollMs !== undefined) this.#deps.metrics.longPollsInFlight.inc({ service })

    const pool = this.#deps.pools.get(published.upstream) as UpstreamPool
    ctx.upstream = pool.name
    const gate = this.#deps.gate
    const body = gate && this.#inspectsBody(service, ctx.command, req.method, target.path, gate)
      ? await readWholeBody(req, INSPECTED_BODY_BYTES)
      : await readRequestBody(req, pool.config.retry.bufferBodyBytes)
    if (body === 'too-large') {
      ctx.note = 'body too large to inspect'
      return answer(res, 413, service, `Request body larger than ${INSPECTED_BODY_BYTES} bytes`, { connection: 'close' })
    }
    const connection = this.#connectionOf(req.socket)
    if (gate) {
      let who: Identified
      try {
        who = identify(service, req, target.path, target.query, ctx.clientIp, body)
      } catch (err) {
        if (!(err instanceof IdentityError)) throw err
        ctx.note = err.message
        return answer(res, 400, service, `Bad request: ${err.message}`)
      }
      connection.authenticate(who)
      if (!await gate.admit(ctx, who)) return
    }
    const request: ForwardRequest = {
      method: req.method as string,
      headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, this.#forwardedFor(req), this.#proto),
      body,
      ...(service === 'activesync' ? { rewriteLocation: this.#rewriteLocation } : {})
    }
    const pinned = connection.pinnedFor(pool, req.headers.authorization)
    if (pinned) request.pinned = pinned
    forward(ctx, pool, request, this.#forwardDeps, () => {
      if (!res.headersSent && !res.destroyed) this.#answerInterrupted(ctx)
    })
  }

  /** Bodies a rule reads: DeviceInformation of Settings and Provision, the EWS operation when a rule reads `command`. */
  #inspectsBody (service: ServiceName, command: string | undefined, method: string | undefined, path: string, gate: PolicyGate): boolean {
    if (method !== 'POST') return false
    if (service === 'activesync') return command !== undefined && DEVICE_INFORMATION_COMMANDS.has(command)
    if (service === 'ews') return gate.reads('command')
    return service === 'ucwa' && gate.reads('userAgent') && UCWA_APPLICATIONS.test(path)
  }

  #connectionOf (socket: Socket): ClientConnection {
    let connection = this.#connections.get(socket)
    if (!connection) {
      connection = new ClientConnection(socket)
      this.#connections.set(socket, connection)
    }
    return connection
  }

  /**
   * ActiveSync 451 redirects: X-MS-Location must keep pointing at the gateway, because iOS re-points
   * the account for good (reference/activesync.md §3.3). The path is kept, the origin becomes ours.
   */
  readonly #rewriteLocation = (location: string): string => {
    const origin = new URL(this.#deps.config.publicUrl).origin
    try {
      const url = new URL(location)
      // Always our origin and a single-slash path: `//evil.example/x` must not become a network-path reference.
      return origin + '/' + url.pathname.replace(/^\/+/, '') + url.search
    } catch {
      return origin + '/Microsoft-Server-ActiveSync'
    }
  }

  #forwardedFor (req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? ''
    const incoming = req.headers['x-forwarded-for']
    if (incoming && peer && this.#clients.isTrusted(peer)) return `${Array.isArray(incoming) ? incoming.join(', ') : incoming}, ${peer}`
    return peer
  }

  /** Shutdown ended a held request: a Ping gets "heartbeat expired" so the device just pings again. */
  #answerInterrupted (ctx: ProxyContext): void {
    ctx.note = 'ended by shutdown'
    const headers = { connection: 'close' }
    if (ctx.service === 'activesync' && ctx.command === 'Ping') {
      ctx.res.writeHead(200, { ...headers, 'content-type': 'application/vnd.ms-sync.wbxml', 'content-length': PING_STATUS_EXPIRED.length })
      ctx.res.end(PING_STATUS_EXPIRED)
      return
    }
    answer(ctx.res, 503, ctx.service, 'Gateway restarting, please retry', { ...headers, 'retry-after': '1' })
  }

  #done (ctx: ProxyContext): void {
    this.inFlight.delete(ctx)
    const { res, service } = ctx
    const status = res.headersSent ? res.statusCode : 0
    const label = service ?? 'none'
    const durationMs = performance.now() - ctx.startedAt
    if (ctx.longPollMs !== undefined) {
      this.#deps.metrics.longPollsInFlight.dec({ service: label })
    } else if (service) {
      this.#deps.metrics.requestDurationBy(service).observe(durationMs / 1000)
    }
    this.#deps.metrics.requestsBy(label, status === 0 ? 'aborted' : statusClass(status)).inc()
    this.#requestLog.write({
      service: label,
      command: ctx.command,
      method: ctx.req.method,
      path: ctx.path, // never the query: it can carry credentials (ENS creds)
      status,
      upstream: ctx.upstream,
      server: ctx.server,
      attempts: ctx.attempts,
      durationMs: Math.round(durationMs * 10) / 10,
      client: ctx.clientIp,
      completed: res.writableFinished,
      note: ctx.note
    })
  }
}

/**
 * Headers that must be single: with two of them the gateway would decide on one value and forward
 * both, and the upstream might read the other. Such a request is ambiguous and refused.
 */
const SINGLETON_HEADERS = new Map(['host', 'user-agent', 'authorization', 'ms-asprotocolversion', 'content-type', 'content-length', 'soapaction', 'x-ms-policykey', 'transfer-encoding'].map((name, i) => [name, 1 << i]))

/** The first singleton header the request repeats, or undefined (a bit per name: nothing allocated per request). */
export function repeatedSingletonHeader (raw: string[]): string | undefined {
  let seen = 0
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase()
    const bit = SINGLETON_HEADERS.get(lower)
    if (bit === undefined) continue
    if ((seen & bit) !== 0) return lower
    seen |= bit
  }
  return undefined
}
