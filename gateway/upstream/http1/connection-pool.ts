import { connect as tcpConnect, isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { UpstreamConnection, type ResponseHandler } from './connection.js'
import type { UpstreamRequest } from './request-writer.js'

export interface ConnectionPoolOptions {
  connectTimeoutMs: number
  /** How long an idle connection is kept (shortened by the server's own Keep-Alive hint). */
  keepAliveMs: number
  tls?: { ca?: Buffer, servername?: string, rejectUnauthorized: boolean }
  /**
   * One connection only, requests queued in order: for a client connection that authenticated with
   * NTLM or Negotiate, which authenticate the TCP connection itself.
   */
  single?: boolean
}

/**
 * The gateway's connections to one upstream server. No cap on their number (a held Ping keeps one for up
 * to an hour and must never make an ordinary request wait), idle ones reused last-in first-out so that few
 * stay warm, and an idle one retired before the server's own keep-alive timeout would close it under a
 * request. It replaces undici on the proxy path: measured, undici's per-request objects and its
 * per-connection Client made a held Ping cost several KB more, and every request more CPU.
 */
export class ConnectionPool {
  readonly #host: string
  readonly #port: number
  readonly #tls: boolean
  readonly #options: ConnectionPoolOptions
  readonly #idle: UpstreamConnection[] = []
  readonly #all = new Set<UpstreamConnection>()
  readonly #queue: Array<[UpstreamRequest, ResponseHandler]> = []
  #session: Buffer | undefined
  #closed = false

  constructor (origin: string, options: ConnectionPoolOptions) {
    const url = new URL(origin)
    this.#host = url.hostname.replace(/^\[|\]$/g, '')
    this.#tls = url.protocol === 'https:'
    this.#port = Number(url.port || (this.#tls ? 443 : 80))
    this.#options = options
  }

  dispatch (request: UpstreamRequest, handler: ResponseHandler): void {
    if (this.#options.single && this.#all.size > 0 && this.#idle.length === 0) {
      this.#queue.push([request, handler])
      return
    }
    const connection = this.#idle.pop() ?? this.#connect()
    connection.send(request, handler)
  }

  /** Idle connections: for tests and the admin view. */
  get idleCount (): number { return this.#idle.length }
  get size (): number { return this.#all.size }

  /** Closes idle connections now and busy ones when their answer is done. */
  close (): void {
    this.#closed = true
    for (const connection of this.#idle) connection.destroy()
  }

  destroy (): void {
    this.#closed = true
    for (const connection of this.#all) connection.destroy()
  }

  #connect (): UpstreamConnection {
    const host = this.#host
    const port = this.#port
    const { connectTimeoutMs } = this.#options
    let connection: UpstreamConnection
    if (this.#tls) {
      const settings = this.#options.tls ?? { rejectUnauthorized: true }
      const servername = settings.servername ?? (isIP(host) === 0 ? host : undefined)
      const socket = tlsConnect({ host, port, ca: settings.ca, rejectUnauthorized: settings.rejectUnauthorized, ...(servername ? { servername } : {}), ...(this.#session ? { session: this.#session } : {}) })
      socket.on('session', (session: Buffer) => { this.#session = session }) // resumption: a held Ping reconnects often
      connection = new UpstreamConnection(socket, 'secureConnect', connectTimeoutMs, this.#release)
    } else {
      connection = new UpstreamConnection(tcpConnect({ host, port }), 'connect', connectTimeoutMs, this.#release)
    }
    this.#all.add(connection)
    return connection
  }

  readonly #release = (connection: UpstreamConnection, reusable: boolean): void => {
    const at = this.#idle.indexOf(connection)
    if (at !== -1) this.#idle.splice(at, 1)
    if (!reusable || this.#closed) {
      connection.destroy()
      this.#all.delete(connection)
    } else {
      const hint = connection.keepAliveHintMs
      connection.socket.setTimeout(hint === undefined ? this.#options.keepAliveMs : Math.max(1000, Math.min(this.#options.keepAliveMs, hint - 1000)))
      this.#idle.push(connection)
    }
    const next = this.#queue.shift()
    if (next) this.dispatch(next[0], next[1])
  }
}
