import { BlockList, isIP } from 'node:net'

/** Longer X-Forwarded-For values are not walked (a chain of proxies is a handful of addresses). */
const MAX_FORWARDED_FOR = 2048

/**
 * Who the client is, decided once per request and used everywhere (rules, logs, rate limits, ENS key
 * limits). A peer in `listen.trustedProxies` speaks for the client: the client is the right-most
 * address of X-Forwarded-For that is not itself a trusted proxy (entries to its left were written by
 * whoever sent the request and prove nothing). Any other peer is the client, whatever it claims.
 */
export class ClientAddresses {
  readonly #trusted = new BlockList()
  readonly #any: boolean

  constructor (trustedProxies: readonly string[]) {
    for (const cidr of trustedProxies) {
      const [addr = '', bits] = cidr.split('/')
      const type = isIP(addr) === 4 ? 'ipv4' : 'ipv6'
      this.#trusted.addSubnet(addr, bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits), type)
    }
    this.#any = trustedProxies.length > 0
  }

  isTrusted (address: string): boolean {
    if (!this.#any) return false
    const plain = unmapped(address)
    const family = isIP(plain)
    return family !== 0 && this.#trusted.check(plain, family === 4 ? 'ipv4' : 'ipv6')
  }

  /** The client of a request from `peer` carrying `forwardedFor` (every X-Forwarded-For value, joined). */
  clientOf (peer: string, forwardedFor: string | string[] | undefined): string {
    if (forwardedFor === undefined || !this.isTrusted(peer)) return peer
    const joined = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor
    if (joined.length > MAX_FORWARDED_FOR) return peer
    const hops = joined.split(',')
    let client = peer
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = (hops[i] as string).trim()
      if (isIP(hop) === 0) return client // garbage to the left of trusted hops: the last trusted one is all we know
      client = hop
      if (!this.isTrusted(hop)) return hop
    }
    return client
  }
}

/** `::ffff:10.0.0.1` is the IPv4 address 10.0.0.1 (dual-stack sockets). */
export function unmapped (address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}
