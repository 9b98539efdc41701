/**
 * Headers that must be single: with two of them the gateway would decide on one value and forward
 * both, and the upstream might read the other. Such a request is ambiguous and refused.
 */
const SINGLETON_HEADERS = new Map(['host', 'user-agent', 'authorization', 'ms-asprotocolversion', 'content-type', 'content-length', 'soapaction', 'x-ms-policykey', 'transfer-encoding'].map((name, i) => [name, 1 << i]))

/** The first singleton header the request repeats, or undefined (a bit per name: nothing allocated per request). */
export function repeatedSingletonHeader (raw: string[]): string | undefined {
  let seen = 0
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase()
    const bit = SINGLETON_HEADERS.get(lower)
    if (bit === undefined) continue
    if ((seen & bit) !== 0) return lower
    seen |= bit
  }
  return undefined
}
