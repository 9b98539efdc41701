import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'

/** What a simulated server saw: enough for tests to check routing, headers and bodies. */
export interface ReceivedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  bodyLength: number
  bodySha256: string
}

/**
 * How a simulated server misbehaves, switchable at run time. `normal` runs the protocol script;
 * `iis-503` is a stopped IIS app pool (HTTP.sys answers, Server: Microsoft-HTTPAPI/2.0); `reset` drops
 * the connection after reading the request; `hang` never answers.
 */
export type SimMode = 'normal' | 'iis-503' | 'reset' | 'hang'

export type SimHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

/** A scripted upstream on 127.0.0.1, the base of the fake Exchange and Skype front ends. */
export class SimServer {
  readonly name: string
  mode: SimMode = 'normal'
  readonly received: ReceivedRequest[] = []
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #held = new Set<ServerResponse>()

  readonly #scheme: string

  constructor (name: string, handler: SimHandler, tls?: { cert: string, key: string }) {
    this.name = name
    this.#scheme = tls ? 'https' : 'http'
    const options = { keepAliveTimeout: 120_000, requestTimeout: 0, ...tls }
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyLength: body.length, bodySha256: createHash('sha256').update(body).digest('hex') })
        this.#dispatch(req, res, body, handler)
      })
    }
    this.#server = tls ? createTlsServer(options, onRequest) : createServer(options, onRequest)
    this.#server.on('connection', socket => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  #dispatch (req: IncomingMessage, res: ServerResponse, body: Buffer, handler: SimHandler): void {
    if (this.mode === 'iis-503') httpSys503(res)
    else if (this.mode === 'reset') req.socket.destroy()
    else if (this.mode === 'hang') this.hold(res)
    else handler(req, res, body)
  }

  /** Keeps a response open until `release` or close (long-polls, hangs). */
  hold (res: ServerResponse): void {
    this.#held.add(res)
    res.on('close', () => this.#held.delete(res))
  }

  get heldCount (): number {
    return this.#held.size
  }

  /** Requests that were not health probes (tests check who got real traffic). */
  get traffic (): ReceivedRequest[] {
    return this.received.filter(r => !String(r.headers['user-agent'] ?? '').startsWith('Portcullis-HealthCheck'))
  }

  async listen (port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>(resolve => this.#server.listen(port, host, resolve))
    return this.url
  }

  get url (): string {
    const addr = this.#server.address() as AddressInfo
    return `${this.#scheme}://127.0.0.1:${addr.port}`
  }

  async close (): Promise<void> {
    for (const res of this.#held) res.destroy()
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }
}

/** The answer of HTTP.sys when the IIS application pool behind it is stopped (ucwa-samples/12). */
export function httpSys503 (res: ServerResponse): void {
  const body = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n' +
    '<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n' +
    '<BODY><h2>Service Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n'
  res.writeHead(503, { 'content-type': 'text/html; charset=us-ascii', server: 'Microsoft-HTTPAPI/2.0', connection: 'close', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** A JSON answer with its length, as IIS sends it. */
export function sendJson (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}
