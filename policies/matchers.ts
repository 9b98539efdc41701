import { BlockList, isIP } from 'node:net'
import { RE2JS } from 're2js'
import { GatewayError } from '../gateway/errors/catalogue.js'

/** Inputs longer than this are cut before matching: no rule needs more, and it bounds every regex's work. */
export const MAX_INPUT = 512

/** `lower` is `value` bounded and lower-cased, computed once per decision by the caller. */
export type Predicate = (value: string | undefined, lower: string | undefined) => boolean

/** The form every pattern compares against: bounded, lower-case. */
export function normalize (value: string | undefined): string | undefined {
  return value === undefined ? undefined : bounded(value).toLowerCase()
}

export class PatternError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) { super('GW_POLICY_PATTERN', message, options) }
}

/** A compiled pattern that tests a bounded value. */
interface Tester { test: (value: string) => boolean }

/**
 * Compiles a pattern list once at load: exact values go to a Set (case-insensitive), `prefix*`,
 * `*suffix` and `*infix*` globs to string comparisons, other globs to a linear-time glob matcher, and
 * /regex/flags to RE2 (re2js): matching takes time linear in the input whatever the pattern, so no
 * rule an admin writes can stall the gateway (V8's backtracking engine took 1.7 s for
 * `^([0-9a-f]|[0-9])+$` on a 25-character DeviceId, doubling per character, and safe-regex2's star-height
 * check let it through). RE2 has no backreferences or lookaround: such patterns are refused at load.
 */
export function compilePatterns (spec: string | string[]): Predicate {
  const list = Array.isArray(spec) ? spec : [spec]
  const exact = new Set<string>()
  const regexes: Tester[] = []
  const prefixes: string[] = []
  const suffixes: string[] = []
  const infixes: string[] = []
  for (const p of list) {
    const regex = /^\/(.+)\/([a-z]*)$/s.exec(p)
    if (regex) {
      const [, source = '', flags = ''] = regex
      regexes.push(compileRegex(p, source, flags))
    } else if (/^[^*?]+\*$/.test(p)) {
      prefixes.push(p.slice(0, -1).toLowerCase()) // the common `Vendor/*`: a startsWith, no regex
    } else if (/^\*[^*?]+$/.test(p)) {
      suffixes.push(p.slice(1).toLowerCase())
    } else if (/^\*[^*?]+\*$/.test(p)) {
      infixes.push(p.slice(1, -1).toLowerCase())
    } else if (/[*?]/.test(p)) {
      regexes.push(globMatcher(p))
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

export function bounded (value: string): string {
  return value.length > MAX_INPUT ? value.slice(0, MAX_INPUT) : value
}

/** JavaScript's flags i, s and m in RE2 terms; g and y (stateful) and anything else are refused. */
function compileRegex (pattern: string, source: string, flags: string): Tester {
  let re2Flags = 0
  for (const flag of flags) {
    if (flag === 'i') re2Flags |= RE2JS.CASE_INSENSITIVE
    else if (flag === 's') re2Flags |= RE2JS.DOTALL
    else if (flag === 'm') re2Flags |= RE2JS.MULTILINE
    else if (flag !== 'u') throw new PatternError(`flag ${flag} is not supported in ${pattern} (i, s, m and u are)`)
  }
  try {
    const compiled = RE2JS.compile(source, re2Flags)
    return { test: value => compiled.test(value) }
  } catch (err) {
    throw new PatternError(`invalid regular expression ${pattern} (RE2 syntax: no backreferences or lookaround): ${(err as Error).message}`, { cause: err })
  }
}

/**
 * A glob (`*` any run, `?` one character) matched against the whole value, any case, without a regex:
 * the classic two-pointer walk that backtracks only to the last `*`, so at most input × pattern steps.
 */
export function globMatcher (glob: string): Tester {
  const pattern = glob.toLowerCase()
  return {
    test: (input: string): boolean => {
      const value = input.toLowerCase()
      let v = 0
      let p = 0
      let star = -1
      let resume = 0
      while (v < value.length) {
        const c = pattern[p]
        if (c === '*') {
          star = p++
          resume = v
        } else if (c !== undefined && (c === '?' || c === value[v])) {
          p++
          v++
        } else if (star !== -1) {
          p = star + 1
          v = ++resume
        } else {
          return false
        }
      }
      while (pattern[p] === '*') p++
      return p === pattern.length
    }
  }
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
