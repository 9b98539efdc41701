import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Identified } from '../protocols/identify.js'
import { authScheme } from '../protocols/authorization.js'
import { createPinnedPool } from '../upstream/connection-settings.js'
import type { ConnectionPool } from '../upstream/http1/connection-pool.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { UpstreamServer } from '../upstream/server.js'

export interface Pinned { server: UpstreamServer, connections: ConnectionPool }

/**
 * What the gateway knows about one client connection. NTLM and Negotiate authenticate the TCP
 * connection, not the request: once a client sent its AUTHENTICATE message, its later requests without
 * Authorization ride on that authentication, so they are matched as that scheme and user; and each
 * upstream pool the connection talks to gets its own pinned upstream connection (a UCWA request on a
 * connection that authenticated to Exchange must never reach Exchange).
 */
export class ClientConnection {
  #auth: { scheme: string, user: string | undefined } | undefined
  #pins: Map<string, Pinned> | undefined
  readonly #socket: Socket
  /** A request of this connection is being handled; later (pipelined) ones wait here, in order. */
  #active = false
  #waiting: Array<() => void> | undefined
  #whenIdle: (() => void) | undefined
  /** The newest request received on this connection. */
  #latest: IncomingMessage | undefined

  constructor (socket: Socket) {
    this.#socket = socket
  }

  /** Starts `handle` now, or once every request received before it on this connection is answered. */
  run (req: IncomingMessage, handle: () => void): void {
    this.#latest = req
    if (!this.#active) {
      this.#active = true
      handle()
    } else {
      (this.#waiting ??= []).push(handle)
    }
  }

  /** The current request is answered (or gone): the next one in line starts. */
  finished (): void {
    const next = this.#waiting?.shift()
    if (next) return next()
    this.#active = false
    const idle = this.#whenIdle
    this.#whenIdle = undefined
    idle?.()
  }

  /**
   * Runs `fn` once every request of this connection is answered: for a parse error, whose 400 must
   * come after the answers to the requests before it. An error inside the body of the newest request
   * (a bad chunk) is that request's own: answered at once.
   */
  whenIdle (fn: () => void): void {
    if (this.#active && this.#latest?.complete !== false) this.#whenIdle = fn
    else fn()
  }

  /** Records an NTLM/Negotiate authentication; fills a later request's scheme and user from it. */
  authenticate (who: Identified): void {
    const { identity, authorization } = who
    if ((authorization.scheme === 'ntlm' || authorization.scheme === 'negotiate') && authorization.ntlmMessage !== 1) {
      this.#auth = { scheme: authorization.scheme, user: authorization.user ?? this.#auth?.user }
    } else if (authorization.scheme === 'none' && this.#auth) {
      identity.authScheme = this.#auth.scheme
      identity.user = this.#auth.user
    }
  }

  /** The pinned upstream connection of this client connection to `pool`, made at its first NTLM/Negotiate request. */
  pinnedFor (pool: UpstreamPool, authorization: string | undefined): Pinned | undefined {
    const existing = this.#pins?.get(pool.name)
    if (existing) return existing
    const scheme = authScheme(authorization)
    if (scheme !== 'ntlm' && scheme !== 'negotiate') return undefined
    const server = pool.pick([])
    if (!server) return undefined
    const pinned = { server, connections: createPinnedPool(server.origin, pool.connectionOptions) }
    if (!this.#pins) {
      this.#pins = new Map()
      this.#socket.once('close', () => { for (const pin of this.#pins?.values() ?? []) pin.connections.destroy() })
    }
    this.#pins.set(pool.name, pinned)
    return pinned
  }
}
