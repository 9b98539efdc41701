import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ResponseParseError, ResponseParser } from '../../gateway/upstream/http1/response-parser.js'

interface Parsed { heads: Array<{ status: number, headers: string[] }>, body: Buffer, ended: number, parser: ResponseParser }

/** Feeds the answer in pieces of `step` bytes (1: every split point a socket could produce). */
function parse (raw: string | Buffer, step = raw.length, noBody = false): Parsed {
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'latin1')
  const result: Parsed = { heads: [], body: Buffer.alloc(0), ended: 0, parser: undefined as unknown as ResponseParser }
  const pieces: Buffer[] = []
  result.parser = new ResponseParser({
    onHead: (status, headers) => { result.heads.push({ status, headers }) },
    onBody: chunk => { pieces.push(Buffer.from(chunk)) },
    onEnd: () => { result.ended++ }
  })
  result.parser.reset(noBody)
  for (let at = 0; at < bytes.length; at += step) result.parser.feed(bytes.subarray(at, at + step))
  result.body = Buffer.concat(pieces)
  return result
}

test('Content-Length bodies arrive whole however the bytes are split', () => {
  const answer = 'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: 11\r\nX-Odd:   spaced  \r\n\r\nhello world'
  for (const step of [1, 2, 7, 1000]) {
    const r = parse(answer, step)
    assert.deepEqual(r.heads, [{ status: 200, headers: ['Content-Type', 'application/vnd.ms-sync.wbxml', 'Content-Length', '11', 'X-Odd', 'spaced'] }], `step ${step}`)
    assert.equal(r.body.toString(), 'hello world')
    assert.equal(r.ended, 1)
    assert.equal(r.parser.keepAlive, true)
  }
})

test('chunked bodies are decoded, with extensions and trailers, split anywhere', () => {
  const answer = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n'
  for (let step = 1; step <= answer.length; step += 3) {
    const r = parse(answer, step)
    assert.equal(r.body.toString(), 'hello world', `step ${step}`)
    assert.equal(r.ended, 1)
    assert.equal(r.parser.done, true)
  }
})

test('binary bodies pass untouched', () => {
  const payload = Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x47, 0x03, 0x31, 0x00, 0x01, 0x01, 0xff, 0x0d, 0x0a])
  const r = parse(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload]), 5)
  assert.deepEqual(r.body, payload)
})

test('1xx answers are skipped; HEAD, 204 and 304 answers have no body', () => {
  const r = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', 4)
  assert.deepEqual(r.heads.map(h => h.status), [201])
  assert.equal(r.body.toString(), 'ok')
  for (const [answer, noBody] of [['HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n', true], ['HTTP/1.1 204 No Content\r\n\r\n', false], ['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', false]] as const) {
    const n = parse(answer, answer.length, noBody)
    assert.equal(n.ended, 1, answer)
    assert.equal(n.body.length, 0)
  }
})

test('a body without length ends when the server closes; such a connection is not reused', () => {
  const r = parse('HTTP/1.1 200 OK\r\n\r\nsome bytes', 3)
  assert.equal(r.ended, 0)
  assert.equal(r.parser.keepAlive, false)
  assert.equal(r.parser.finish(), true)
  assert.equal(r.ended, 1)
  assert.equal(r.body.toString(), 'some bytes')
  const cut = parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort')
  assert.equal(cut.parser.finish(), false, 'a Content-Length body cut short is an error, not an end')
})

test('connection reuse follows Connection, the HTTP version and the Keep-Alive hint', () => {
  assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').parser.keepAlive, false)
  assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n').parser.keepAlive, false)
  assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').parser.keepAlive, false)
  const hinted = parse('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n').parser
  assert.equal(hinted.keepAlive, true)
  assert.equal(hinted.keepAliveHintMs, 5000)
})

test('malformed answers are refused with a parse error', () => {
  const bad = [
    'HTTP/2 200 OK\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/1.1 1e2 OK\r\n\r\n',
    'HTTP/1.1 200OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n',
    'HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n',
    'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n',
    'HTTP/1.1 101 Switching Protocols\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', // RFC 9112 §6.3: both framings
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nextra'
  ]
  for (const answer of bad) assert.throws(() => parse(answer, 2), ResponseParseError, JSON.stringify(answer))
  assert.throws(() => parse(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, 8192), /too large/)
})

test('a duplicate Content-Length is refused even with the same value (llhttp, on the client side, refuses it)', () => {
  assert.throws(() => parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'), ResponseParseError)
})
