import { BlockList, isIP } from 'node:net'
import safeRegex from 'safe-regex2'

/** Inputs longer than this are cut before matching: no rule needs more, and it bounds every regex's work. */
export const MAX_INPUT = 512

/** `lower` is `value` bounded and lower-cased, computed once per decision by the caller. */
export type Predicate = (value: string | undefined, lower: string | undefined) => boolean

/** The form every pattern compares against: bounded, lower-case. */
export function normalize (value: string | undefined): string | undefined {
  return value === undefined ? undefined : bounded(value).toLowerCase()
}

export class PatternError extends Error {}

/**
 * Compiles a pattern list once at load: exact values go to a Set (case-insensitive), globs and
 * /regex/flags to RegExps. A regex whose star height can backtrack catastrophically is refused
 * (safe-regex2, as fastify does for routes), and inputs are bounded to MAX_INPUT characters.
 */
export function compilePatterns (spec: string | string[]): Predicate {
  const list = Array.isArray(spec) ? spec : [spec]
  const exact = new Set<string>()
  const regexes: RegExp[] = []
  const prefixes: string[] = []
  const suffixes: string[] = []
  const infixes: string[] = []
  for (const p of list) {
    const regex = /^\/(.+)\/([a-z]*)$/s.exec(p)
    if (regex) {
      const [, source = '', flags = ''] = regex
      if (/[gy]/.test(flags)) throw new PatternError(`flags g and y make a regex stateful: ${p}`)
      let compiled: RegExp
      try {
        compiled = new RegExp(source, flags)
      } catch (err) {
        throw new PatternError(`invalid regular expression ${p}: ${(err as Error).message}`)
      }
      if (!safeRegex(compiled) || /\\\d/.test(source)) throw new PatternError(`regular expression may backtrack catastrophically: ${p}`)
      regexes.push(compiled)
    } else if (/^[^*?]+\*$/.test(p)) {
      prefixes.push(p.slice(0, -1).toLowerCase()) // the common `Vendor/*`: a startsWith, no regex
    } else if (/^\*[^*?]+$/.test(p)) {
      suffixes.push(p.slice(1).toLowerCase())
    } else if (/^\*[^*?]+\*$/.test(p)) {
      infixes.push(p.slice(1, -1).toLowerCase())
    } else if (/[*?]/.test(p)) {
      regexes.push(globToRegExp(p))
    } else {
      exact.add(p.toLowerCase())
    }
  }
  if (regexes.length === 0 && prefixes.length === 0 && suffixes.length === 0 && infixes.length === 0) {
    return (_value, lower) => lower !== undefined && exact.has(lower)
  }
  return (value, lower) => {
    if (value === undefined || lower === undefined) return false
    if (exact.size > 0 && exact.has(lower)) return true
    for (const p of prefixes) if (lower.startsWith(p)) return true
    for (const s of suffixes) if (lower.endsWith(s)) return true
    for (const s of infixes) if (lower.includes(s)) return true
    if (regexes.length > 0) {
      const v = bounded(value)
      for (const r of regexes) if (r.test(v)) return true
    }
    return false
  }
}

function bounded (value: string): string {
  return value.length > MAX_INPUT ? value.slice(0, MAX_INPUT) : value
}

/** `Outlook-iOS-Android/*` → /^Outlook-iOS-Android\/.*$/is; a glob matches the whole value, any case. */
export function globToRegExp (glob: string): RegExp {
  const source = glob.replace(/[.+^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${source}$`, 'is')
}

/**
 * CIDRs (or single addresses). IPv4 ranges compare as 32-bit integers (the client address is parsed
 * once per decision); IPv6 ranges go through a BlockList.
 */
export function compileCidrs (spec: string | string[]): Predicate {
  const v4: Array<[net: number, mask: number]> = []
  const v6 = new BlockList()
  let hasV6 = false
  for (const entry of Array.isArray(spec) ? spec : [spec]) {
    const [addr = '', bits] = entry.split('/')
    const family = isIP(addr)
    if (family === 0) throw new PatternError(`not an IP address or CIDR: ${entry}`)
    const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits)
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new PatternError(`bad prefix length: ${entry}`)
    if (family === 4) {
      const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0
      v4.push([(ipv4ToInt(addr) & mask) >>> 0, mask])
    } else {
      v6.addSubnet(addr, prefix, 'ipv6')
      hasV6 = true
    }
  }
  return value => {
    if (!value) return false
    const ip = value.startsWith('::ffff:') ? value.slice(7) : value
    const n = ipv4ToInt(ip)
    if (n >= 0) {
      for (const [net, mask] of v4) if (((n & mask) >>> 0) === net) return true
      return false
    }
    return hasV6 && isIP(ip) === 6 && v6.check(ip, 'ipv6')
  }
}

/** Dotted IPv4 to an unsigned integer, or -1 when it is not one. */
function ipv4ToInt (ip: string): number {
  let n = 0
  let part = 0
  let parts = 0
  let digits = 0
  for (let i = 0; i <= ip.length; i++) {
    const c = i === ip.length ? 46 : ip.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || part > 255) return -1
      n = n * 256 + part
      part = 0
      digits = 0
      parts++
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + c - 48
      digits++
    } else {
      return -1
    }
  }
  return parts === 4 ? n : -1
}
