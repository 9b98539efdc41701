import type { IncomingHttpHeaders } from 'node:http'

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus what must never cross the gateway. */
const REQUEST_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', // meant for a proxy, and we are not one to authenticate against
  'expect', // Node already answered 100-continue; undici refuses to send it
  'http2-settings', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'
])

const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate'])

/**
 * Headers for the upstream request: the client's, Host included (Skype front ends need the published
 * host), without hop-by-hop headers or those the client's Connection header names, with
 * X-Forwarded-For/-Proto set by the gateway.
 */
export function upstreamRequestHeaders (incoming: IncomingHttpHeaders, forwardedFor: string, proto: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const connection = incoming.connection
  const listed = connection && connection !== 'keep-alive' && connection !== 'close'
    ? new Set(connection.toLowerCase().split(',').map(s => s.trim()))
    : undefined
  for (const name in incoming) {
    if (REQUEST_DROP.has(name) || listed?.has(name)) continue
    const value = incoming[name]
    if (value !== undefined) out[name] = value
  }
  out['x-forwarded-for'] = forwardedFor
  out['x-forwarded-proto'] = proto
  return out
}

/** Headers for the client: the upstream's without hop-by-hop ones. */
export function downstreamResponseHeaders (upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const connection = upstream.connection
  const listed = typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close'
    ? new Set(connection.toLowerCase().split(',').map(s => s.trim()))
    : undefined
  for (const name in upstream) {
    if (RESPONSE_DROP.has(name) || listed?.has(name)) continue
    const value = upstream[name]
    if (value !== undefined) out[name] = value
  }
  return out
}

/** The authentication scheme of an Authorization header, lower-case ("basic", "ntlm", ...). */
export function authScheme (authorization: string | undefined): string {
  if (!authorization) return 'none'
  const space = authorization.indexOf(' ')
  return (space === -1 ? authorization : authorization.slice(0, space)).toLowerCase()
}
