import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { classifyError } from '../../gateway/upstream/classify.js'
import { ConnectionPool } from '../../gateway/upstream/http1/connection-pool.js'
import type { UpstreamRequest } from '../../gateway/upstream/http1/request-writer.js'

interface Answer { status: number, headers: string[], body: Buffer }

/** A scripted upstream on an ephemeral port that counts the TCP connections it accepted. */
async function upstream (handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<{ server: Server, origin: string, connections: Socket[] }> {
  const connections: Socket[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => handle(req, res, Buffer.concat(chunks)))
  })
  server.on('connection', socket => connections.push(socket))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections }
}

function request (overrides: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method: 'GET', path: '/EWS/Exchange.asmx', headers: ['Host', 'mail.example.com'], body: null, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, ...overrides }
}

/** Sends one request and collects the answer; `slowReader` pauses the socket on every chunk. */
function exchange (pool: ConnectionPool, req: UpstreamRequest, slowReader = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let head: { status: number, headers: string[] } | undefined
    let resume = (): void => {}
    pool.dispatch(req, {
      onConnect: () => {},
      onHeaders: (status, headers, resumeSocket) => { head = { status, headers }; resume = resumeSocket; return true },
      onData: chunk => {
        chunks.push(Buffer.from(chunk))
        if (!slowReader) return true
        setImmediate(resume)
        return false
      },
      onComplete: () => { resolve({ ...head!, body: Buffer.concat(chunks) }) },
      onError: reject
    })
  })
}

const options = { connectTimeoutMs: 2000, keepAliveMs: 60_000 }

test('keep-alive: sequential requests share one connection; an idle connection the server closed is dropped, not used', async () => {
  let closeAfterAnswer = false
  const { server, origin, connections } = await upstream((req, res) => {
    res.end('ok')
    if (closeAfterAnswer) setTimeout(() => req.socket.destroy(), 100) // the server gives up on the idle connection
  })
  const pool = new ConnectionPool(origin, options)
  for (let i = 0; i < 3; i++) assert.equal((await exchange(pool, request())).body.toString(), 'ok')
  assert.equal(connections.length, 1)
  closeAfterAnswer = true
  await exchange(pool, request())
  await new Promise(resolve => setTimeout(resolve, 400))
  assert.equal(pool.idleCount, 0, 'the closed connection left the pool')
  assert.equal((await exchange(pool, request())).status, 200)
  assert.equal(connections.length, 2)
  pool.destroy()
  server.close()
})

test('an idle connection is retired a second before the server says it would close it (Keep-Alive: timeout)', async () => {
  const { server, origin, connections } = await upstream((_req, res) => res.end('ok'))
  server.keepAliveTimeout = 3000 // Node sends Keep-Alive: timeout=3
  const pool = new ConnectionPool(origin, options)
  await exchange(pool, request())
  const closedByGateway = new Promise(resolve => connections[0]?.once('end', resolve)) // FIN from our side
  await closedByGateway
  assert.equal(pool.size, 0)
  server.close()
})

test('an answer with Connection: close ends its connection; the next request opens a new one', async () => {
  const { server, origin, connections } = await upstream((_req, res) => { res.setHeader('connection', 'close'); res.end('bye') })
  const pool = new ConnectionPool(origin, options)
  assert.equal((await exchange(pool, request())).body.toString(), 'bye')
  assert.equal((await exchange(pool, request())).body.toString(), 'bye')
  assert.equal(connections.length, 2)
  assert.equal(pool.size, 0)
  pool.destroy()
  server.close()
})

test('request framing: a body in memory gets its Content-Length, an empty POST says 0, a stream without length goes chunked', async () => {
  const seen: Array<{ length: string | undefined, te: string | undefined, body: string }> = []
  const { server, origin } = await upstream((req, res, body) => {
    seen.push({ length: req.headers['content-length'], te: req.headers['transfer-encoding'], body: body.toString() })
    res.end()
  })
  const pool = new ConnectionPool(origin, options)
  await exchange(pool, request({ method: 'POST', body: Buffer.from('<Ping/>') }))
  await exchange(pool, request({ method: 'POST' }))
  await exchange(pool, request({ method: 'POST', body: Readable.from([Buffer.from('part one, '), Buffer.from('part two')]) }))
  await exchange(pool, request({ method: 'POST', headers: ['Host', 'x', 'Content-Length', '6'], body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) }))
  assert.deepEqual(seen, [
    { length: '7', te: undefined, body: '<Ping/>' },
    { length: '0', te: undefined, body: '' },
    { length: undefined, te: 'chunked', body: 'part one, part two' },
    { length: '6', te: undefined, body: 'abcdef' }
  ])
  pool.destroy()
  server.close()
})

test('backpressure: a reader that pauses on every chunk still gets a 5 MB answer byte-identical', async () => {
  const payload = Buffer.alloc(5 * 1024 * 1024)
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) & 0xff
  const { server, origin } = await upstream((_req, res) => res.end(payload))
  const pool = new ConnectionPool(origin, options)
  const answer = await exchange(pool, request(), true)
  assert.ok(answer.body.equals(payload))
  pool.destroy()
  server.close()
})

test('failures carry the codes the attempt loop classifies: refused, header timeout, reset mid-answer', async () => {
  const { server, origin } = await upstream((req, res) => {
    if (req.url === '/silent') return // never answers
    res.writeHead(200, { 'content-length': 100 })
    res.write('only part of it')
    setTimeout(() => res.socket?.destroy(), 50)
  })
  const pool = new ConnectionPool(origin, options)
  const timeout = await exchange(pool, request({ path: '/silent', headersTimeoutMs: 200 })).catch((err: Error) => err)
  assert.equal((timeout as NodeJS.ErrnoException).code, 'UPSTREAM_HEADERS_TIMEOUT')
  assert.equal(classifyError(timeout).reason, 'timeout')
  const cut = await exchange(pool, request()).catch((err: Error) => err)
  assert.equal((cut as NodeJS.ErrnoException).code, 'UPSTREAM_CLOSED')
  assert.equal(classifyError(cut).reason, 'reset')
  pool.destroy()
  server.close()
  await new Promise(resolve => server.once('close', resolve))
  const refused = await exchange(new ConnectionPool(origin, options), request()).catch((err: Error) => err)
  assert.deepEqual(classifyError(refused), { reason: 'connect', beforeSend: true, code: 'ECONNREFUSED' })
})

test('a pinned pool (NTLM) queues requests on its one connection, in order', async () => {
  const order: string[] = []
  const { server, origin, connections } = await upstream((req, res) => { order.push(req.url ?? ''); setTimeout(() => res.end(req.url), 30) })
  const pool = new ConnectionPool(origin, { ...options, single: true })
  const answers = await Promise.all(['/a', '/b', '/c'].map(path => exchange(pool, request({ path }))))
  assert.deepEqual(answers.map(a => a.body.toString()), ['/a', '/b', '/c'])
  assert.deepEqual(order, ['/a', '/b', '/c'])
  assert.equal(connections.length, 1)
  pool.destroy()
  server.close()
})

test('an answer before the whole body: the rest is still sent and the connection is reused afterwards', async () => {
  const received: number[] = []
  const connections: Socket[] = []
  const server = createServer((req, res) => {
    res.end('early') // like nginx's `return 200`, or an early 413
    let size = 0
    req.on('data', c => { size += c.length })
    req.on('end', () => received.push(size))
  })
  server.on('connection', socket => connections.push(socket))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const pool = new ConnectionPool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, options)
  async function * slowBody (): AsyncGenerator<Buffer> {
    for (let i = 0; i < 20; i++) {
      await new Promise(resolve => setTimeout(resolve, 5))
      yield Buffer.alloc(10_000, 97)
    }
  }
  const first = await exchange(pool, request({ method: 'POST', headers: ['Host', 'x', 'Content-Length', '200000'], body: Readable.from(slowBody()) }))
  assert.equal(first.body.toString(), 'early')
  while (received.length === 0) await new Promise(resolve => setTimeout(resolve, 20)) // the rest still goes out
  await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(pool.idleCount, 1, 'back in the pool once the body was sent')
  const second = await exchange(pool, request({ method: 'POST', body: Buffer.from('next') }))
  assert.equal(second.body.toString(), 'early')
  assert.deepEqual(received, [200_000, 4])
  assert.equal(connections.length, 1)
  pool.destroy()
  server.close()
})
