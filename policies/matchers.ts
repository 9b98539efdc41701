import { BlockList, isIP } from 'node:net'
import safeRegex from 'safe-regex2'

/** Inputs longer than this are cut before matching: no rule needs more, and it bounds every regex's work. */
export const MAX_INPUT = 512

export type Predicate = (value: string | undefined) => boolean

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
    } else if (/[*?]/.test(p)) {
      regexes.push(globToRegExp(p))
    } else {
      exact.add(p.toLowerCase())
    }
  }
  if (regexes.length === 0) {
    return value => value !== undefined && exact.has(bounded(value).toLowerCase())
  }
  return value => {
    if (value === undefined) return false
    const v = bounded(value)
    if (exact.size > 0 && exact.has(v.toLowerCase())) return true
    for (const r of regexes) if (r.test(v)) return true
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

/** CIDRs (or single addresses) compiled into a BlockList. */
export function compileCidrs (spec: string | string[]): Predicate {
  const list = new BlockList()
  for (const entry of Array.isArray(spec) ? spec : [spec]) {
    const [addr = '', bits] = entry.split('/')
    const family = isIP(addr)
    if (family === 0) throw new PatternError(`not an IP address or CIDR: ${entry}`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits)
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new PatternError(`bad prefix length: ${entry}`)
    list.addSubnet(addr, prefix, type)
  }
  return value => {
    if (!value) return false
    const ip = value.startsWith('::ffff:') && isIP(value.slice(7)) === 4 ? value.slice(7) : value
    const family = isIP(ip)
    return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
  }
}
