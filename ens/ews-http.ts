import { promisify } from 'node:util'
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib'
import type { Dispatcher } from 'undici'

/** Starts the message of every transport failure, so it can be recognised after ews-javascript-api rewrapped it. */
export const EWS_TRANSPORT_ERROR = 'EWS transport error'

/** A transport failure (no HTTP answer from EWS): connection refused or reset, TLS, timeout. */
export class EwsTransportError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(`${EWS_TRANSPORT_ERROR} (${code}): ${message}`)
    this.code = code
  }
}

export interface EwsHttpAnswer { status: number, headers: Record<string, string>, body: string }

/** EWS answers here are a few KB; anything far larger is not an answer to our calls. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024

/**
 * One POST to EWS on the upstream server's undici pool: the pool's TLS settings (CA file, server name,
 * `insecure`) apply to ENS as to proxied traffic, and connections are reused. Nothing of the caller's
 * (credentials travel in `headers`) outlives the call. A dispatch handler rather than undici's request()
 * (no body stream per answer): this runs for every new mail.
 */
export function ewsPost (dispatcher: Dispatcher, url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<EwsHttpAnswer> {
  const target = new URL(url)
  return new Promise((resolve, reject) => {
    const fail = (code: string, message: string): void => reject(new EwsTransportError(code, message))
    let status = 0
    let rawHeaders: Buffer[] = []
    const chunks: Buffer[] = []
    let size = 0
    let abort: ((err?: Error) => void) | undefined
    dispatcher.dispatch({ origin: target.origin, path: target.pathname + target.search, method: 'POST', headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, {
      onConnect: (abortRequest: (err?: Error) => void) => { abort = abortRequest },
      onHeaders: (statusCode: number, raw: Buffer[]) => {
        if (statusCode >= 200) { status = statusCode; rawHeaders = raw }
        return true
      },
      onData: (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_ANSWER_BYTES) abort?.(new Error('EWS answer too large'))
        else chunks.push(chunk)
        return true
      },
      onComplete: () => {
        const flat: Record<string, string> = {}
        for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!.toString('latin1').toLowerCase()
          const value = rawHeaders[i + 1]!.toString('latin1')
          flat[name] = flat[name] === undefined ? value : `${flat[name]}, ${value}`
        }
        decode(Buffer.concat(chunks, size), flat['content-encoding']).then(
          body => resolve({ status, headers: flat, body }),
          (err: Error) => fail('EWS_BAD_ENCODING', err.message))
      },
      onError: (err: Error & { code?: string }) => fail(err.code ?? 'EWS_TRANSPORT', err.message)
    } as Dispatcher.DispatchHandler)
  })
}

const gunzipAsync = promisify(gunzip) as (body: Buffer, options: ZlibOptions) => Promise<Buffer>
const inflateAsync = promisify(inflate) as (body: Buffer, options: ZlibOptions) => Promise<Buffer>
const brotliAsync = promisify(brotliDecompress) as (body: Buffer, options: ZlibOptions) => Promise<Buffer>

/**
 * Portcullis asks for identity, but a server that compresses anyway is understood (axios did the same).
 * Decompressed off the event loop and to the same limit as a plain answer: 300 KB of gzip can hold 300 MB.
 */
async function decode (body: Buffer, encoding: string | undefined): Promise<string> {
  const options = { maxOutputLength: MAX_ANSWER_BYTES }
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip': case 'x-gzip': return (await gunzipAsync(body, options)).toString('utf8')
    case 'deflate': return (await inflateAsync(body, options)).toString('utf8')
    case 'br': return (await brotliAsync(body, options)).toString('utf8')
    default: return body.toString('utf8')
  }
}

/** What ews-javascript-api hands its XHR layer (IXHROptions) and reads back (an XMLHttpRequest-like object). */
interface XhrOptions { url: string, headers?: Record<string, string>, data?: string }
interface XhrResponse {
  status: number
  statusText: string
  responseText: string
  headers: Record<string, string>
  getAllResponseHeaders: () => string
  getResponseHeader: (name: string) => string | null
}

/**
 * ews-javascript-api's XHR layer on `ewsPost`, created anew for each EWS call (so no state of one user's
 * call can reach another's, as with @ewsjs/xhr, which builds a fresh axios client per call and measured
 * slower). Only what a Basic-authenticated SOAP call uses: POST, no redirects, no streaming.
 */
export class UndiciXhrApi {
  readonly apiName = 'portcullis-undici'
  readonly #dispatcher: Dispatcher
  readonly #timeoutMs: number

  constructor (dispatcher: Dispatcher, timeoutMs: number) {
    this.#dispatcher = dispatcher
    this.#timeoutMs = timeoutMs
  }

  /** Resolves with status 200 only; any other status rejects with the response (what ews-javascript-api expects). */
  async xhr (options: XhrOptions): Promise<XhrResponse> {
    const answer = await ewsPost(this.#dispatcher, options.url, options.headers ?? {}, options.data ?? '', this.#timeoutMs)
    const response: XhrResponse = {
      status: answer.status,
      statusText: '',
      responseText: answer.body,
      headers: answer.headers,
      getAllResponseHeaders: () => Object.entries(answer.headers).map(([name, value]) => `${name}: ${value}\r\n`).join(''),
      getResponseHeader: (name: string) => answer.headers[name.toLowerCase()] ?? null
    }
    if (response.status !== 200) throw response
    return response
  }

  xhrStream (): Promise<never> {
    return Promise.reject(new Error('streaming notifications are not used by Portcullis'))
  }

  disconnect (): void {}
}
