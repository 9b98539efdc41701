import { GatewayError } from '../../errors/catalogue.js'
/** What the parser hands on: the head of each final answer, its body in pieces, its end. */
export interface ResponseSink {
  onHead: (status: number, headers: string[]) => void
  /** A piece of the body, a view into the socket's buffer (no copy). */
  onBody: (chunk: Buffer) => void
  onEnd: () => void
}

/** A malformed answer: the connection is broken and must not be reused. */
export class ResponseParseError extends GatewayError {
  constructor (message: string) { super('GW_UPSTREAM_BAD_RESPONSE', message) }
}

const MAX_HEAD_BYTES = 65_536
const MAX_CHUNK_LINE = 4096
const CRLF = 0x0a

/** RFC 9110 §5.1 field-name (token) and §5.5 field-value characters (VCHAR, obs-text, SP, HTAB). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
const OWS_AROUND = /^[ \t]+|[ \t]+$/g
const TRAILER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/
/** Framing belongs in the head: a trailer that names it is refused, as llhttp does. */
const FRAMING_TRAILER = /^(content-length|transfer-encoding):/i
/** chunk-size [ chunk-ext ] (RFC 9112 §7.1.1), without the optional whitespace that parsers disagree on. */
const CHUNK_SIZE_LINE = /^([0-9a-fA-F]{1,12})(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*$/

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done'

/**
 * An HTTP/1.1 response parser (RFC 9112) for the gateway's own upstream connections: status line and
 * headers as latin1 strings, then the body by Content-Length, chunked coding (decoded) or until the
 * server closes. 1xx answers are skipped. It keeps no copy of the body: a held long-poll costs a few
 * fields, not a parser instance with its own buffers.
 */
export class ResponseParser {
  /** Whether the connection may carry another request after this answer. */
  keepAlive = true
  /** The server's Keep-Alive timeout hint in ms, if it sent one. */
  keepAliveHintMs: number | undefined
  #state: State = 'head'
  #head: Buffer | undefined
  #remaining = 0
  #line = ''
  #noBody = false
  readonly #sink: ResponseSink

  constructor (sink: ResponseSink) {
    this.#sink = sink
  }

  /** Starts a new answer; `noBody` for a HEAD request, whose answer never has one. */
  reset (noBody: boolean): void {
    this.#state = 'head'
    this.#head = undefined
    this.#noBody = noBody
    this.keepAlive = true
    this.keepAliveHintMs = undefined
  }

  get done (): boolean { return this.#state === 'done' }
  /** True once any byte of the answer arrived (an answer cut before that is a plain reset). */
  get started (): boolean { return this.#state !== 'head' || this.#head !== undefined }

  /** The server closed the connection: ends a close-delimited body; anything else was cut short. */
  finish (): boolean {
    if (this.#state !== 'until-close') return this.#state === 'done'
    this.#state = 'done'
    this.#sink.onEnd()
    return true
  }

  /** Feeds bytes from the socket; throws ResponseParseError on a malformed answer. */
  feed (data: Buffer): void {
    let at = 0
    while (at < data.length) {
      switch (this.#state) {
        case 'head': at = this.#readHead(data, at); break
        case 'length': {
          const take = Math.min(this.#remaining, data.length - at)
          this.#remaining -= take
          this.#sink.onBody(data.subarray(at, at + take))
          at += take
          if (this.#remaining === 0) this.#end()
          break
        }
        case 'until-close': this.#sink.onBody(at === 0 ? data : data.subarray(at)); return
        case 'chunk-size': case 'chunk-end': case 'trailers': at = this.#readChunkLine(data, at); break
        case 'chunk-data': {
          const take = Math.min(this.#remaining, data.length - at)
          this.#remaining -= take
          this.#sink.onBody(data.subarray(at, at + take))
          at += take
          if (this.#remaining === 0) this.#state = 'chunk-end'
          break
        }
        case 'done': throw new ResponseParseError('data after the end of the answer')
      }
    }
  }

  #readHead (data: Buffer, at: number): number {
    const previous = this.#head?.length ?? 0
    const buf = previous === 0 ? data.subarray(at) : Buffer.concat([this.#head as Buffer, data.subarray(at)])
    const end = buf.indexOf('\r\n\r\n', Math.max(0, previous - 3), 'latin1')
    if (end === -1) {
      if (buf.length > MAX_HEAD_BYTES) throw new ResponseParseError('response head too large')
      this.#head = Buffer.from(buf) // own copy: the socket may reuse its buffer
      return data.length
    }
    if (end > MAX_HEAD_BYTES) throw new ResponseParseError('response head too large')
    this.#head = undefined
    this.#parseHead(buf.toString('latin1', 0, end))
    return at + end + 4 - previous
  }

  #parseHead (text: string): void {
    // Hand-scanned rather than split and matched per line: this runs for every proxied answer.
    const minor = text.charCodeAt(7)
    const code = text.slice(9, 12)
    const status = Number(code)
    if (!text.startsWith('HTTP/1.') || (minor !== 48 && minor !== 49) || text.charCodeAt(8) !== 32 || !/^[1-9]\d\d$/.test(code) || (text.length > 12 && text.charCodeAt(12) !== 32)) {
      throw new ResponseParseError('bad status line')
    }
    const firstEnd = text.indexOf('\r\n')
    if (!FIELD_VALUE.test(text.slice(13, firstEnd === -1 ? text.length : firstEnd))) throw new ResponseParseError('bad reason phrase')
    const headers: string[] = []
    let length: number | undefined
    let transferEncoding = false
    let close = minor === 48 // HTTP/1.0 servers are never reused
    let at = text.indexOf('\r\n')
    while (at !== -1) {
      const start = at + 2
      at = text.indexOf('\r\n', start)
      const line = text.slice(start, at === -1 ? text.length : at)
      const colon = line.indexOf(':')
      if (colon <= 0) throw new ResponseParseError('bad header line')
      const name = line.slice(0, colon)
      // Only what every client's parser reads the same way (fuzzed against llhttp): a token for the name
      // (also refuses obs-fold), no control characters but HTAB in the value, so no bare CR or LF.
      if (!TOKEN.test(name)) throw new ResponseParseError('bad header name')
      const raw = line.slice(colon + 1)
      if (!FIELD_VALUE.test(raw)) throw new ResponseParseError('bad header value')
      const value = raw.replace(OWS_AROUND, '') // SP and HTAB only: trim() would also strip U+00A0 (byte 0xA0)
      headers.push(name, value)
      switch (name.length === 10 || name.length === 14 || name.length === 17 ? name.toLowerCase() : '') {
        case 'content-length': {
          // A second Content-Length is refused even with the same value: llhttp, which reads our answers
          // on the client side, refuses it too, and two parsers must never disagree on framing.
          if (!/^ *\d{1,15}$/.test(raw) || length !== undefined) throw new ResponseParseError('bad Content-Length')
          length = Number(value)
          break
        }
        case 'transfer-encoding':
          // Only `chunked`, the one coding IIS and every server here sends: any other list (or a stray
          // tab) is a framing other parsers may read otherwise (fuzzed against llhttp), so it is refused.
          if (transferEncoding || !/^ *chunked$/i.test(raw)) throw new ResponseParseError('unsupported Transfer-Encoding')
          transferEncoding = true
          break
        case 'connection':
          if (/(^|,)[ \t]*close[ \t]*(,|$)/i.test(value)) close = true
          break
        case 'keep-alive': {
          const timeout = /timeout\s*=\s*(\d+)/i.exec(value)
          if (timeout) this.keepAliveHintMs = Number(timeout[1]) * 1000
          break
        }
      }
    }
    // RFC 9112 §6.3: a sender must not send both; an intermediary that forwarded either one could
    // desynchronise the client connection (an answer smuggled to the client, or to another user behind
    // a front load balancer). Refused whole: the attempt loop answers 502.
    if (transferEncoding && length !== undefined) throw new ResponseParseError('both Transfer-Encoding and Content-Length')
    if (status < 200) {
      if (status === 101) throw new ResponseParseError('unexpected protocol switch')
      if (minor === 48) throw new ResponseParseError('1xx answer in HTTP/1.0') // HTTP/1.0 has no interim answers
      return // 100 Continue, 103 Early Hints: the final answer follows
    }
    this.keepAlive = !close
    this.#sink.onHead(status, headers)
    if (this.#noBody || status === 204 || status === 304) return this.#end()
    if (transferEncoding) {
      this.#state = 'chunk-size'
      return
    }
    if (length !== undefined) {
      if (length === 0) return this.#end()
      this.#remaining = length
      this.#state = 'length'
      return
    }
    this.keepAlive = false
    this.#state = 'until-close'
  }

  /** Chunk-size lines, the CRLF after chunk data and trailer lines, which may arrive split. */
  #readChunkLine (data: Buffer, at: number): number {
    const newline = data.indexOf(CRLF, at)
    const piece = data.toString('latin1', at, newline === -1 ? data.length : newline + 1)
    if (this.#line.length + piece.length > MAX_CHUNK_LINE) throw new ResponseParseError('chunk line too long')
    if (newline === -1) {
      this.#line += piece
      return data.length
    }
    const whole = this.#line + piece
    this.#line = ''
    if (!whole.endsWith('\r\n')) throw new ResponseParseError('chunk line not ended by CRLF')
    const line = whole.slice(0, -2)
    if (this.#state === 'chunk-end') {
      if (line !== '') throw new ResponseParseError('missing CRLF after chunk')
      this.#state = 'chunk-size'
    } else if (this.#state === 'trailers') {
      if (line === '') this.#end() // trailers themselves are dropped, as hop-by-hop proxies may
      else if (!TRAILER_LINE.test(line) || FRAMING_TRAILER.test(line)) throw new ResponseParseError('bad trailer line')
    } else {
      const size = CHUNK_SIZE_LINE.exec(line)
      if (!size) throw new ResponseParseError('bad chunk size')
      this.#remaining = parseInt(size[1] as string, 16)
      this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data'
    }
    return newline + 1
  }

  #end (): void {
    this.#state = 'done'
    this.#sink.onEnd()
  }
}
