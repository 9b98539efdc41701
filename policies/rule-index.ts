import { accountName, type ClientIdentity } from './identity.js'
import type { MatchSpec } from './schema.js'

/** The fields a rule can be indexed on: exact values and literal prefixes, compared lower-case. */
// `user` is looked up twice: as given, and by its account name (a plain user value matches the account
// name of every spelling, compile.ts), so the index still yields a superset of the matching rules.
export const INDEXABLE = ['deviceId', 'user', 'deviceType', 'deviceModel', 'deviceOS', 'userAgent', 'command', 'path'] as const
export type IndexableField = typeof INDEXABLE[number]

interface Anchor {
  field: IndexableField
  exact: string[]
  prefixes: string[]
}

/**
 * Narrows 500 rules to the few that can match a client before any of them is evaluated. Each rule is
 * filed under one anchor: a field whose patterns are all exact values, `prefix*` globs or `/^literal.../`
 * regexes (every value the rule matches starts with one of those literals), else under its protocols,
 * else among the rules always evaluated. The index only ever yields a superset of the matching rules;
 * the rules themselves still decide, in order.
 */
export class RuleIndex {
  readonly #exact = new Map<IndexableField, Map<string, number[]>>()
  /** Per field: rules filed under the first `length` characters of their literal prefixes (length = the shortest). */
  readonly #prefix = new Map<IndexableField, { length: number, byPrefix: Map<string, number[]> }>()
  readonly #byProtocol = new Map<string, number[]>()
  readonly #always: number[] = []
  readonly #fields: IndexableField[]
  readonly #seen: Uint32Array
  #generation = 0

  constructor (matches: MatchSpec[]) {
    this.#seen = new Uint32Array(matches.length)
    const anchors = matches.map(anchorOf)
    const shortest = new Map<IndexableField, number>()
    for (const a of anchors) {
      for (const p of a?.prefixes ?? []) shortest.set(a!.field, Math.min(shortest.get(a!.field) ?? Infinity, p.length))
    }
    for (const [field, length] of shortest) this.#prefix.set(field, { length, byPrefix: new Map() })
    matches.forEach((match, i) => {
      const anchor = anchors[i]
      if (anchor) {
        for (const value of anchor.exact) push(mapOf(this.#exact, anchor.field), value, i)
        const entry = this.#prefix.get(anchor.field)
        for (const p of anchor.prefixes) push(entry!.byPrefix, p.slice(0, entry!.length), i)
      } else if (match.protocol !== undefined) {
        for (const p of Array.isArray(match.protocol) ? match.protocol : [match.protocol]) push(this.#byProtocol, p, i)
      } else {
        this.#always.push(i)
      }
    })
    this.#fields = INDEXABLE.filter(f => this.#exact.has(f) || this.#prefix.has(f))
  }

  /** Indices of the rules that may match, ascending (rule order). */
  candidates (id: ClientIdentity, lower: Partial<Record<IndexableField, string>>): number[] {
    const out: number[] = []
    const generation = ++this.#generation
    for (const field of this.#fields) {
      const value = lower[field]
      if (value === undefined) continue
      this.#lookUp(field, value, out, generation)
      if (field === 'user') {
        const account = accountName(value)
        if (account !== value) this.#lookUp(field, account, out, generation)
      }
    }
    this.#add(this.#byProtocol.get(id.protocol), out, generation)
    this.#add(this.#always, out, generation)
    return out.length > 1 ? out.sort(ascending) : out
  }

  #lookUp (field: IndexableField, value: string, out: number[], generation: number): void {
    this.#add(this.#exact.get(field)?.get(value), out, generation)
    const prefixes = this.#prefix.get(field)
    if (prefixes && value.length >= prefixes.length) this.#add(prefixes.byPrefix.get(value.slice(0, prefixes.length)), out, generation)
  }

  #add (list: number[] | undefined, out: number[], generation: number): void {
    if (!list) return
    for (const i of list) {
      if (this.#seen[i] !== generation) {
        this.#seen[i] = generation
        out.push(i)
      }
    }
  }
}

const ascending = (a: number, b: number): number => a - b

function anchorOf (match: MatchSpec): Anchor | undefined {
  for (const field of INDEXABLE) {
    const spec = match[field]
    if (spec === undefined) continue
    const exact: string[] = []
    const prefixes: string[] = []
    let ok = true
    for (const p of (Array.isArray(spec) ? spec : [spec]).map(String)) {
      const literal = regexLiteralPrefix(p)
      if (literal !== undefined) prefixes.push(literal)
      else if (/^[^*?]+\*$/.test(p) && !p.startsWith('/')) prefixes.push(p.slice(0, -1).toLowerCase())
      else if (!/[*?]/.test(p) && !/^\/.*\/[a-z]*$/s.test(p)) exact.push(p.toLowerCase())
      else ok = false
    }
    if (ok && prefixes.every(p => p.length >= 2)) return { field, exact, prefixes }
  }
  return undefined
}

/** `/^Model-12-[A-Z]+$/i` → "model-12-": the literal every match starts with; undefined when unsure. */
function regexLiteralPrefix (p: string): string | undefined {
  const m = /^\/\^(.*)\/([a-z]*)$/s.exec(p)
  if (!m || (m[2] as string).includes('m')) return undefined // with m, ^ also matches after a newline
  const source = m[1] as string
  if (source.includes('|')) return undefined
  let literal = ''
  let i = 0
  while (i < source.length) {
    const c = source[i] as string
    if (c === '\\' && /[./\-:@]/.test(source[i + 1] ?? '')) {
      literal += source[i + 1]
      i += 2
    } else if (/[A-Za-z0-9 _\-/:@,;=]/.test(c)) {
      literal += c
      i++
    } else {
      break
    }
  }
  if (/^[?*{]/.test(source.slice(i))) literal = literal.slice(0, -1) // the last literal is optional
  return literal.length >= 2 ? literal.toLowerCase() : undefined
}

function mapOf<K, V> (maps: Map<K, Map<string, V>>, key: K): Map<string, V> {
  let map = maps.get(key)
  if (!map) {
    map = new Map()
    maps.set(key, map)
  }
  return map
}

function push (map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}
