import type { Action, ClientIdentity, Decision } from './identity.js'
import { compileCidrs, compilePatterns, type Predicate } from './matchers.js'
import type { MatchSpec, Rule } from './schema.js'

type Matcher = (id: ClientIdentity) => boolean

const SIMPLE_FIELDS = ['userAgent', 'deviceType', 'deviceId', 'deviceModel', 'deviceOS', 'user', 'command', 'method', 'path', 'authScheme'] as const

/** A policy ready to decide: rules compiled to closures once, evaluated in order, first match wins. */
export class CompiledPolicy {
  readonly defaultAction: Action
  readonly rules: ReadonlyArray<{ rule: Rule, matches: Matcher }>
  readonly #decisions: Map<string, Decision>

  constructor (rules: Rule[], defaultAction: Action) {
    this.defaultAction = defaultAction
    this.rules = rules.map(rule => ({ rule, matches: compileMatch(rule.match) }))
    // Decisions are shared objects, built once: deciding allocates nothing.
    this.#decisions = new Map(rules.map(r => [r.name, { action: r.action, rule: r.name, reason: r.reason }]))
    this.#decisions.set('default', { action: defaultAction, rule: 'default' })
  }

  decide (id: ClientIdentity): Decision {
    for (const { rule, matches } of this.rules) {
      if (matches(id)) return this.#decisions.get(rule.name) as Decision
    }
    return this.#decisions.get('default') as Decision
  }
}

/** Compiles one `match` object: every field given must hold; `not` must not hold. */
export function compileMatch (spec: MatchSpec): Matcher {
  const checks: Matcher[] = []
  if (spec.protocol !== undefined) {
    const protocols = new Set(Array.isArray(spec.protocol) ? spec.protocol : [spec.protocol])
    checks.push(id => protocols.has(id.protocol))
  }
  for (const field of SIMPLE_FIELDS) {
    const value = spec[field]
    if (value === undefined) continue
    const predicate = compilePatterns(value as string | string[])
    checks.push(id => predicate(id[field]))
  }
  if (spec.clientIp !== undefined) {
    const predicate = compileCidrs(spec.clientIp)
    checks.push(id => predicate(id.clientIp))
  }
  if (spec.headers !== undefined) {
    for (const [name, value] of Object.entries(spec.headers)) {
      const lower = name.toLowerCase()
      const predicate: Predicate = compilePatterns(value as string | string[])
      checks.push(id => {
        const header = id.headers?.[lower]
        return Array.isArray(header) ? header.some(predicate) : predicate(header)
      })
    }
  }
  if (spec.not !== undefined) {
    const inner = compileMatch(spec.not)
    checks.push(id => !inner(id))
  }
  if (checks.length === 1) return checks[0] as Matcher
  return id => {
    for (const check of checks) if (!check(id)) return false
    return true
  }
}
