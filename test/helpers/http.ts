import { connect } from 'node:net'
import { Agent, request } from 'undici'

/** A client with its own connection pool so tests never share sockets by accident. */
export function client (): Agent {
  return new Agent({ connections: null, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 1000 })
}

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** One request through the gateway, body read whole. */
export async function send (url: string, options: Parameters<typeof request>[1] = {}): Promise<Reply> {
  const res = await request(url, options)
  const body = Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, headers: res.headers, body }
}

/** Writes raw bytes on a new TCP connection and returns everything the server sent until it closed (or timeout). */
export function rawExchange (port: number, payload: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')) }, timeoutMs)
    socket.on('data', c => chunks.push(c))
    socket.on('error', err => { clearTimeout(timer); if (chunks.length) resolve(Buffer.concat(chunks).toString('latin1')); else reject(err) })
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')) })
    socket.write(payload)
  })
}

export function portOf (url: string): number {
  return Number(new URL(url).port)
}
