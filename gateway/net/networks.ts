import { isIP } from 'node:net'
import { unmapped } from './client-address.js'

/**
 * The network an address belongs to, as `a.b.c.d/n` or `x:x:x:x::/n`: IPv4 by `v4Prefix` bits, IPv6 by
 * `v6Prefix` (one host owns a whole /64 and can rotate through it). IPv4-mapped IPv6 counts as IPv4.
 * Anything that is not an address is returned as is (it can only be compared with itself).
 */
export function networkOf (address: string, v4Prefix: number, v6Prefix: number): string {
  const plain = unmapped(address)
  const family = isIP(plain)
  if (family === 4) {
    const value = plain.split('.').reduce((n, octet) => (n << 8) + Number(octet), 0) >>> 0
    const masked = v4Prefix === 0 ? 0 : (value & (~0 << (32 - v4Prefix))) >>> 0
    return `${[24, 16, 8, 0].map(shift => (masked >>> shift) & 255).join('.')}/${v4Prefix}`
  }
  if (family !== 6) return address
  const groups = expandIPv6(plain).map(g => Number.parseInt(g, 16))
  const kept = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, v6Prefix - i * 16))
    return bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff
  })
  return `${kept.map(g => g.toString(16)).join(':')}/${v6Prefix}`
}

function expandIPv6 (address: string): string[] {
  const [head = '', tail] = address.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  return tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
}
