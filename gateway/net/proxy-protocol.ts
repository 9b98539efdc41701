import { isIP } from 'node:net'

/** The PROXY protocol v2 signature (HAProxy's proxy-protocol.txt §2.2). */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
/** A v1 line is at most 107 bytes with its CRLF (§2.1); v2 addresses and TLVs are bounded here too. */
const V1_MAX = 107
const V2_MAX = 16 + 536

export type ProxyHeader =
  /** `address`: the client the proxy speaks for; undefined for LOCAL / UNKNOWN (the proxy's own connection, a health check). */
  | { kind: 'header', address: string | undefined, length: number }
  | { kind: 'incomplete' }
  | { kind: 'invalid', reason: string }

/**
 * Parses a PROXY protocol header (v1 text or v2 binary) at the start of `data`: the client address and
 * how many bytes the header took. Bounded: a header longer than the spec allows is invalid, and so is
 * anything that is not one (the caller closes the connection: it came from a trusted proxy that must
 * send one, and guessing would let a client choose its own address).
 */
export function parseProxyHeader (data: Buffer): ProxyHeader {
  if (data.length >= 1 && data[0] === 0x0d) return parseV2(data)
  if (data.length < 6) return 'PROXY '.startsWith(data.toString('latin1')) ? { kind: 'incomplete' } : { kind: 'invalid', reason: 'not a PROXY header' }
  if (data.toString('latin1', 0, 6) !== 'PROXY ') return { kind: 'invalid', reason: 'not a PROXY header' }
  const end = data.indexOf('\r\n')
  if (end === -1) return data.length >= V1_MAX ? { kind: 'invalid', reason: 'PROXY v1 line too long' } : { kind: 'incomplete' }
  if (end + 2 > V1_MAX) return { kind: 'invalid', reason: 'PROXY v1 line too long' }
  const parts = data.toString('latin1', 6, end).split(' ')
  if (parts[0] === 'UNKNOWN') return { kind: 'header', address: undefined, length: end + 2 }
  const [family, source, destination, sourcePort, destinationPort] = parts
  if (parts.length !== 5 || (family !== 'TCP4' && family !== 'TCP6')) return { kind: 'invalid', reason: 'PROXY v1: bad family or field count' }
  const want = family === 'TCP4' ? 4 : 6
  if (isIP(source ?? '') !== want || isIP(destination ?? '') !== want || !port(sourcePort) || !port(destinationPort)) return { kind: 'invalid', reason: 'PROXY v1: bad address or port' }
  return { kind: 'header', address: source, length: end + 2 }
}

function parseV2 (data: Buffer): ProxyHeader {
  const have = Math.min(data.length, V2_SIGNATURE.length)
  if (!data.subarray(0, have).equals(V2_SIGNATURE.subarray(0, have))) return { kind: 'invalid', reason: 'not a PROXY header' }
  if (data.length < 16) return { kind: 'incomplete' }
  const versionCommand = data[12] as number
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: 'PROXY v2: bad version' }
  const length = data.readUInt16BE(14)
  if (16 + length > V2_MAX) return { kind: 'invalid', reason: 'PROXY v2: header too long' }
  if (data.length < 16 + length) return { kind: 'incomplete' }
  const command = versionCommand & 0x0f
  if (command === 0) return { kind: 'header', address: undefined, length: 16 + length } // LOCAL
  if (command !== 1) return { kind: 'invalid', reason: 'PROXY v2: bad command' }
  const family = (data[13] as number) >> 4
  if (family === 1 && length >= 12) return { kind: 'header', address: [...data.subarray(16, 20)].join('.'), length: 16 + length }
  if (family === 2 && length >= 36) {
    const groups: string[] = []
    for (let i = 0; i < 8; i++) groups.push(data.readUInt16BE(16 + i * 2).toString(16))
    return { kind: 'header', address: groups.join(':'), length: 16 + length }
  }
  if (family === 0) return { kind: 'header', address: undefined, length: 16 + length } // UNSPEC
  return { kind: 'invalid', reason: 'PROXY v2: bad address family or length' }
}

function port (value: string | undefined): boolean {
  return value !== undefined && /^\d{1,5}$/.test(value) && Number(value) <= 65535 && !(value.length > 1 && value.startsWith('0'))
}
