import { CompiledPolicy } from '../policies/compile.js'
import type { ClientIdentity } from '../policies/identity.js'
import { ruleSchema, type Rule } from '../policies/schema.js'

/**
 * Policy engine throughput: decisions per second with 500 rules, one core. The rules mix exact values,
 * globs, regexes, lists, CIDRs and `not`, none of them matching the ordinary clients, so every decision
 * walks all 500 rules before the default (the worst case), plus a client caught by the last rule.
 */
const rules: Rule[] = []
for (let i = 0; i < 500; i++) {
  const kind = i % 5
  const match = kind === 0
    ? { protocol: 'activesync', userAgent: `Vendor${i}-Mail/*` }
    : kind === 1
      ? { deviceType: [`Type${i}`, `Other${i}`], authScheme: 'basic' }
      : kind === 2
        ? { deviceModel: `/^Model-${i}-[A-Z]+$/i` }
        : kind === 3
          ? { clientIp: `10.${i % 250}.0.0/16`, user: `user${i}@example.com` }
          : { userAgent: `Scraper${i}/*`, not: { authScheme: 'bearer' } }
  rules.push(ruleSchema.parse({ name: `rule-${i}`, action: i % 2 ? 'block' : 'quarantine', match }))
}
rules.push(ruleSchema.parse({ name: 'last', action: 'block', match: { userAgent: 'Outlook-iOS-Android/*', authScheme: 'basic' } }))
const policy = new CompiledPolicy(rules, 'allow')
const clients: ClientIdentity[] = [
  { protocol: 'activesync', userAgent: 'Apple-iPhone15C2/2101.132', deviceType: 'iPhone', deviceId: 'ApplF17XK2ABCD', deviceModel: 'iPhone15C2', user: 'alice@example.com', clientIp: '203.0.113.7', authScheme: 'basic' },
  { protocol: 'ews', userAgent: 'Mac OS X/14.1 (23B74); ExchangeWebServices/13.0 (293); Mail/16.0', user: 'bob@example.com', clientIp: '198.51.100.4', authScheme: 'basic' },
  { protocol: 'activesync', userAgent: 'Outlook-iOS-Android/1.0', deviceType: 'Outlook', clientIp: '20.1.2.3', authScheme: 'basic' }
]
function measure (label: string, n: number, decide: (id: ClientIdentity, i: number) => string): void {
  for (let i = 0; i < 20_000; i++) decide(clients[i % 3] as ClientIdentity, i) // warm-up
  let blocked = 0
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) if (decide(clients[i % 3] as ClientIdentity, i) !== 'allow') blocked++
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  process.stdout.write(`| ${label} | ${Math.round(n / seconds).toLocaleString('en')} | ${(seconds / n * 1e9).toFixed(0)} ns | ${blocked} of ${n} |\n`)
}

process.stdout.write(`### Policy engine, ${rules.length} rules, one core\n\n| case | decisions/s | per decision | blocked |\n|---|---:|---:|---:|\n`)
// Devices repeat themselves (a Ping every few minutes, a Sync after each): the cached path.
measure('repeat clients (decision cache)', 2_000_000, id => policy.decide(id).action)
// No cache at all: every decision evaluated from scratch over 30,000 distinct devices (built before the
// clock starts). The rule index narrows 500 rules to the few that can match.
const distinct = Array.from({ length: 30_000 }, (_, i) => ({ ...clients[i % 3], deviceId: `D${i}` }) as ClientIdentity)
measure('uncached: every decision evaluated (rule index)', 1_000_000, (_id, i) => policy.evaluate(distinct[i % distinct.length] as ClientIdentity).action)
// The same without the index: every rule walked in order (the reference the tests compare against).
measure('uncached, no index (linear walk of all rules)', 100_000, (_id, i) => policy.evaluateLinear(distinct[i % distinct.length] as ClientIdentity).action)
