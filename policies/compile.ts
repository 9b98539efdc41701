import { accountName, type Action, type ClientIdentity, type Decision } from './identity.js'
import { createHash } from 'node:crypto'
import { bounded, compileCidrs, compilePatterns, normalize, type Predicate } from './matchers.js'
import { RuleIndex } from './rule-index.js'
import type { MatchSpec, Rule } from './schema.js'

/** The identity with its pattern fields bounded and lower-cased once per decision. */
interface Prepared {
  id: ClientIdentity
  lower: Partial<Record<typeof SIMPLE_FIELDS[number], string>>
  /** The account name of the user, as given and lower-case (computed once, when a rule reads `user`). */
  account?: string
  accountLower?: string
}

type Matcher = (p: Prepared) => boolean

const SIMPLE_FIELDS = ['userAgent', 'deviceType', 'deviceId', 'deviceModel', 'deviceOS', 'user', 'command', 'method', 'path', 'authScheme'] as const

/** Distinct clients whose decisions are remembered; real traffic repeats (every device polls). */
const CACHE_SIZE = 10_000

/**
 * A policy ready to decide: rules compiled to closures once, evaluated in order, first match wins.
 * Decisions are cached per distinct client (the fields the rules read, and nothing else), so the
 * thousandth Ping of a device costs one Map lookup; a reload builds a new policy, so a new cache.
 */
export class CompiledPolicy {
  readonly defaultAction: Action
  readonly rules: ReadonlyArray<{ rule: Rule, matches: Matcher }>
  readonly #decisions: Map<string, Decision>
  readonly #cache = new Map<string, Decision>()
  readonly #keyOf: (id: ClientIdentity) => string
  readonly #index: RuleIndex
  /** The pattern fields some rule reads: only those are lower-cased per decision. */
  readonly #fields: ReadonlyArray<typeof SIMPLE_FIELDS[number]>
  readonly #read: ReadonlySet<keyof ClientIdentity>

  constructor (rules: Rule[], defaultAction: Action) {
    this.defaultAction = defaultAction
    this.rules = rules.map(rule => ({ rule, matches: compileMatch(rule.match) }))
    // Decisions are shared objects, built once: deciding allocates nothing.
    this.#decisions = new Map(rules.filter(r => r.action !== 'flag').map(r => [r.name, { action: r.action as Action, rule: r.name, reason: r.reason }]))
    this.#decisions.set('default', { action: defaultAction, rule: 'default' })
    this.#keyOf = cacheKeyFor(rules)
    this.#index = new RuleIndex(rules.map(r => r.match))
    const read = fieldsRead(rules)
    this.#read = read.fields
    this.#fields = SIMPLE_FIELDS.filter(f => read.fields.has(f))
  }

  /** Whether some rule reads `field` (the gateway reads bodies whole only when a rule needs them). */
  reads (field: keyof ClientIdentity): boolean {
    return this.#read.has(field)
  }

  /** The decision cache's key for `id` (bounded in length whatever the identity holds). */
  cacheKey (id: ClientIdentity): string {
    return this.#keyOf(id)
  }

  decide (id: ClientIdentity): Decision {
    const key = this.#keyOf(id)
    const cached = this.#cache.get(key)
    if (cached) return cached
    const decision = this.evaluate(id)
    if (this.#cache.size >= CACHE_SIZE) this.#cache.clear() // crude but bounded; refills in one poll cycle
    this.#cache.set(key, decision)
    return decision
  }

  /** The decision without the cache: the index narrows the rules, the first that matches decides. */
  evaluate (id: ClientIdentity): Decision {
    const prepared = prepare(id, this.#fields)
    return this.#first(this.#index.candidates(id, prepared.lower), prepared)
  }

  /** The reference decision: every rule walked in order (tests check the index against it). */
  evaluateLinear (id: ClientIdentity): Decision {
    return this.#first(this.rules.keys(), prepare(id, this.#fields))
  }

  /** The first matching rule that is not a flag decides; the flags matched before it ride along. */
  #first (candidates: Iterable<number>, prepared: Prepared): Decision {
    let flags: string[] | undefined
    for (const i of candidates) {
      const { rule, matches } = this.rules[i] as { rule: Rule, matches: Matcher }
      if (!matches(prepared)) continue
      if (rule.action === 'flag') {
        (flags ??= []).push(rule.name)
        continue
      }
      return withFlags(this.#decisions.get(rule.name) as Decision, flags)
    }
    return withFlags(this.#decisions.get('default') as Decision, flags)
  }
}

function prepare (id: ClientIdentity, fields: ReadonlyArray<typeof SIMPLE_FIELDS[number]>): Prepared {
  const prepared: Prepared = { id, lower: {} }
  for (const field of fields) {
    const value = normalize(id[field])
    if (value !== undefined) prepared.lower[field] = value
  }
  if (id.user !== undefined && prepared.lower.user !== undefined) {
    prepared.account = accountName(id.user)
    prepared.accountLower = accountName(prepared.lower.user)
  }
  return prepared
}

/** The identity fields and header names the rules read, `not:` included. */
function fieldsRead (rules: Rule[]): { fields: Set<keyof ClientIdentity>, headers: Set<string> } {
  const fields = new Set<keyof ClientIdentity>(['protocol'])
  const headers = new Set<string>()
  const visit = (m: MatchSpec): void => {
    for (const key of Object.keys(m) as Array<keyof MatchSpec>) {
      if (key === 'not') visit(m.not as MatchSpec)
      else if (key === 'headers') for (const h of Object.keys(m.headers ?? {})) headers.add(h.toLowerCase())
      else fields.add(key)
    }
  }
  for (const r of rules) visit(r.match)
  return { fields, headers }
}

/** Longer cache keys are replaced by their SHA-256: 10,000 entries stay a few MB whatever clients send. */
const MAX_KEY_LENGTH = 256

/**
 * Builds the cache key from exactly the values the rules compare: the fields some rule reads, each
 * bounded as the matchers bound it, length-prefixed (`5:hello`; `~` for an absent value). Unambiguous
 * whatever the values hold: no separator a value could contain, and an absent value is not "undefined".
 */
function cacheKeyFor (rules: Rule[]): (id: ClientIdentity) => string {
  const { fields, headers } = fieldsRead(rules)
  const fieldList = [...fields]
  const headerList = [...headers]
  return id => {
    let key = ''
    for (const f of fieldList) {
      const value = id[f]
      key += typeof value === 'string' ? lengthPrefixed(value) : '~'
    }
    for (const h of headerList) {
      const value = id.headers?.[h]
      if (value === undefined) key += '~'
      else if (Array.isArray(value)) key += `${value.length}[` + value.map(lengthPrefixed).join('')
      else key += lengthPrefixed(value)
    }
    return key.length <= MAX_KEY_LENGTH ? key : createHash('sha256').update(key).digest('base64')
  }
}

function lengthPrefixed (value: string): string {
  const v = bounded(value)
  return `${v.length}:${v}`
}

/** Compiles one `match` object: every field given must hold; `not` must not hold. */
export function compileMatch (spec: MatchSpec): Matcher {
  const checks: Matcher[] = []
  if (spec.protocol !== undefined) {
    const protocols = new Set(Array.isArray(spec.protocol) ? spec.protocol : [spec.protocol])
    checks.push(p => protocols.has(p.id.protocol))
  }
  for (const field of SIMPLE_FIELDS) {
    const value = spec[field]
    if (value === undefined) continue
    if (field === 'user') {
      checks.push(compileUser(value as string | string[]))
      continue
    }
    const predicate = compilePatterns(value as string | string[])
    checks.push(p => predicate(p.id[field], p.lower[field]))
  }
  if (spec.clientIp !== undefined) {
    const predicate = compileCidrs(spec.clientIp)
    checks.push(p => predicate(p.id.clientIp, undefined))
  }
  if (spec.headers !== undefined) {
    for (const [name, value] of Object.entries(spec.headers)) {
      const lower = name.toLowerCase()
      const predicate: Predicate = compilePatterns(value as string | string[])
      checks.push(p => {
        const header = p.id.headers?.[lower]
        return Array.isArray(header) ? header.some(h => predicate(h, normalize(h))) : predicate(header, normalize(header))
      })
    }
  }
  if (spec.not !== undefined) {
    const inner = compileMatch(spec.not)
    checks.push(p => !inner(p))
  }
  if (checks.length === 1) return checks[0] as Matcher
  return p => {
    for (const check of checks) if (!check(p)) return false
    return true
  }
}

/**
 * `user` patterns: one without `\` or `@` matches the account name of every form (`alice`,
 * `CORP\alice`, `alice@corp.example`), so changing the spelling gains nothing; one with a domain
 * matches that form, as written.
 */
function compileUser (spec: string | string[]): Matcher {
  const list = Array.isArray(spec) ? spec : [spec]
  const withDomain = list.filter(p => /[\\@]/.test(p))
  const plain = list.filter(p => !/[\\@]/.test(p))
  const full = withDomain.length > 0 ? compilePatterns(withDomain) : undefined
  const account = plain.length > 0 ? compilePatterns(plain) : undefined
  return p => {
    if (p.account === undefined) return false
    if (full?.(p.id.user, p.lower.user)) return true
    return account !== undefined && account(p.account, p.accountLower)
  }
}

/** A decision is a shared object; one with flags is a copy (only flagged clients allocate). */
function withFlags (decision: Decision, flags: string[] | undefined): Decision {
  return flags ? { ...decision, flags } : decision
}
