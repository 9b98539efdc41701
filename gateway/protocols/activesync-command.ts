import { canonicalCommand, COMMAND_CODES, isPlainQuery } from './activesync-request.js'

/**
 * The ActiveSync command of a request, from either query form, without validating the rest: enough
 * to pick a timeout on every request (parseActiveSyncRequest is the strict parser the policy uses).
 */
export function activesyncCommand (query: string): string | undefined {
  if (query === '') return undefined
  if (isPlainQuery(query)) {
    for (const pair of query.split('&')) {
      if (pair.length > 4 && pair.slice(0, 4).toLowerCase() === 'cmd=') return canonicalCommand(pair.slice(4))
    }
    return undefined
  }
  // Base64 query: byte 0 protocol version, byte 1 command code.
  let bytes: Buffer
  try {
    bytes = Buffer.from(decodeURIComponent(query), 'base64')
  } catch {
    return undefined
  }
  return bytes.length >= 2 ? COMMAND_CODES[bytes[1] as number] : undefined
}
