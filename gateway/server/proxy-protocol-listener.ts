import { createServer, type Server as NetServer, type Socket } from 'node:net'
import type { Server } from 'node:http'
import { ClientAddresses } from '../net/client-address.js'
import { parseProxyHeader } from '../net/proxy-protocol.js'
import type { Logger } from '../observability/log.js'

/** A trusted proxy has this long to send its PROXY header. */
const HEADER_DEADLINE_MS = 5_000

/** The client each connection's PROXY header named (absent: no header, or LOCAL). */
const proxied = new WeakMap<Socket, string>()

/** The address a trusted proxy's PROXY header gave for this connection, if any. */
export function proxiedAddress (socket: Socket): string | undefined {
  return proxied.get(socket)
}

/**
 * `listen.proxyProtocol: true`: a TCP listener in front of the HTTP(S) server. A connection from
 * `listen.trustedProxies` must start with a PROXY header (v1 or v2), which names the client; the rest of
 * the stream (TLS or HTTP) goes to the server as if it had arrived alone. Connections from anyone else
 * go to the server untouched, so a client cannot claim an address by sending a header itself (its
 * "PROXY ..." line is a malformed request: 400). A trusted peer that sends no valid header is closed.
 */
export function proxyProtocolListener (server: Server, trustedProxies: readonly string[], log: Logger): NetServer {
  const trusted = new ClientAddresses(trustedProxies)
  return createServer({ pauseOnConnect: false }, socket => {
    if (!trusted.isTrusted(socket.remoteAddress ?? '')) {
      server.emit('connection', socket)
      return
    }
    let buffered = Buffer.alloc(0)
    const timer = setTimeout(() => refuse('no PROXY header in time'), HEADER_DEADLINE_MS)
    const refuse = (reason: string): void => {
      clearTimeout(timer)
      log.warn({ peer: socket.remoteAddress, reason }, 'PROXY protocol header refused: connection closed')
      socket.destroy()
    }
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const header = parseProxyHeader(buffered)
      if (header.kind === 'incomplete') return
      socket.off('data', onData)
      if (header.kind === 'invalid') return refuse(header.reason)
      clearTimeout(timer)
      if (header.address !== undefined) proxied.set(socket, header.address)
      socket.pause()
      const rest = buffered.subarray(header.length)
      if (rest.length > 0) socket.unshift(rest)
      server.emit('connection', socket)
      socket.resume()
    }
    socket.on('data', onData)
    socket.on('error', () => { clearTimeout(timer) })
  })
}
