/** Hop-by-hop headers (RFC 9110 §7.6.1) plus what must never cross the gateway, lower-case. */
const REQUEST_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', // meant for a proxy to check, and this one does not
  'expect', // Node already answered 100-continue; undici refuses to send it
  'http2-settings', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
  // Client-made claims of address or URL that IIS modules, Exchange or an app may believe: only the
  // gateway says who the client is (X-Forwarded-For, from listen.trustedProxies) and what it asked for.
  'forwarded', 'x-real-ip', 'x-client-ip', 'x-original-url', 'x-rewrite-url', 'x-original-host', 'x-forwarded-server', 'true-client-ip', 'cf-connecting-ip'
])

const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate'])

/**
 * Headers for the upstream request, from the client's raw headers (original case and order): Host
 * included (Skype front ends need the published host), without hop-by-hop headers or those the
 * client's Connection header names, plus X-Forwarded-For/-Proto set by the gateway.
 */
export function upstreamRequestHeaders (raw: string[], connection: string | undefined, forwardedFor: string, proto: string): string[] {
  const listed = namedByConnection(connection)
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (REQUEST_DROP.has(lower) || listed?.has(lower)) continue
    out.push(name, raw[i + 1] as string)
  }
  out.push('x-forwarded-for', forwardedFor, 'x-forwarded-proto', proto)
  return out
}

/** The upstream's response headers for the client, and the few the attempt loop decides with. */
export interface ResponseHeaders {
  /** Flat [name, value, ...] list for res.writeHead, hop-by-hop headers removed. */
  list: string[]
  /** X-MS-ASThrottle present: ActiveSync per-user throttling, not a server fault. */
  throttled: boolean
  retryAfter: string | undefined
  server: string
}

export function responseHeadersFromRaw (raw: string[], rewriteLocation?: (value: string) => string): ResponseHeaders {
  const result: ResponseHeaders = { list: [], throttled: false, retryAfter: undefined, server: '' }
  let connection: string | undefined
  let length = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    let value = raw[i + 1] as string
    const lower = name.toLowerCase()
    // One Content-Length, the value the parser checked (framing is the gateway's, not the upstream's as it came).
    if (lower === 'content-length') {
      if (length) continue
      length = true
    }
    if (rewriteLocation && lower === 'x-ms-location') value = rewriteLocation(value)
    if (lower === 'connection') connection = value
    else if (lower === 'x-ms-asthrottle') result.throttled = true
    else if (lower === 'retry-after') result.retryAfter = value
    else if (lower === 'server') result.server = value
    if (RESPONSE_DROP.has(lower)) continue
    result.list.push(name, value)
  }
  const listed = namedByConnection(connection)
  if (listed) {
    const kept: string[] = []
    for (let i = 0; i < result.list.length; i += 2) {
      if (!listed.has((result.list[i] as string).toLowerCase())) kept.push(result.list[i] as string, result.list[i + 1] as string)
    }
    result.list = kept
  }
  return result
}

function namedByConnection (connection: string | undefined): Set<string> | undefined {
  if (!connection) return undefined
  const lower = connection.toLowerCase()
  if (lower === 'keep-alive' || lower === 'close') return undefined
  return new Set(lower.split(',').map(s => s.trim()))
}
