import { promisify } from 'node:util'
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib'
import type { BufferedAnswer, BufferedRequest } from '../gateway/upstream/http1/buffered-request.js'

/** Where and how ENS reaches EWS: the Exchange pool's own transport, with the proxy's failover (UpstreamPool.request). */
export interface EwsTarget {
  /** e.g. /EWS/Exchange.asmx */
  path: string
  timeoutMs: number
  send: (request: BufferedRequest) => Promise<BufferedAnswer>
}

export interface EwsHttpAnswer { status: number, headers: Record<string, string>, body: string }

/** EWS answers here are a few KB; anything far larger is not an answer to our calls. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024

/**
 * One POST to EWS over the Exchange pool (server choice, failover, retry budget and backoff as for
 * proxied traffic). Nothing of the caller's (credentials travel in `headers`) outlives the call.
 * Rejects with the pool's UpstreamUnavailableError when no server answered.
 */
export async function ewsPost (target: EwsTarget, headers: Record<string, string>, body: string): Promise<EwsHttpAnswer> {
  const answer = await target.send({ method: 'POST', path: target.path, headers: lowerCased(headers), body, timeoutMs: target.timeoutMs, maxBytes: MAX_ANSWER_BYTES })
  return { status: answer.status, headers: answer.headers, body: await decode(answer.body, answer.headers['content-encoding']) }
}

function lowerCased (headers: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) result[name.toLowerCase()] = value
  return result
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
 * slower). Only what a Basic-authenticated SOAP call uses: POST, no redirects, no streaming. It keeps
 * how the call ended (`transportFailure`, `status`), so the caller classifies by facts, not by the
 * text of the error ews-javascript-api rewraps.
 */
export class GatewayXhrApi {
  readonly apiName = 'portcullis'
  readonly #target: EwsTarget
  /** The error when no server answered. */
  transportFailure: Error | undefined
  /** The HTTP status EWS answered with. */
  status: number | undefined

  constructor (target: EwsTarget) {
    this.#target = target
  }

  /** Resolves with status 200 only; any other status rejects with the response (what ews-javascript-api expects). */
  async xhr (options: XhrOptions): Promise<XhrResponse> {
    let answer: EwsHttpAnswer
    try {
      answer = await ewsPost(this.#target, options.headers ?? {}, options.data ?? '')
    } catch (err) {
      this.transportFailure = err as Error
      throw err
    }
    this.status = answer.status
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
