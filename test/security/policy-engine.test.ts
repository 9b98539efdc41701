// Regression tests for the policy engine findings of the security review (issue 10, items 8, 9, 17, 21).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CompiledPolicy } from '../../policies/compile.js'
import type { ClientIdentity } from '../../policies/identity.js'
import { ruleSchema } from '../../policies/schema.js'

function policy (...rules: Array<Record<string, unknown>>): CompiledPolicy {
  return new CompiledPolicy(rules.map(r => ruleSchema.parse(r)), 'allow')
}

test('an exponential regex runs in linear time (RE2): a 40-character DeviceId is decided at once', () => {
  const p = policy({ name: 'hex', action: 'block', match: { deviceId: '/^([0-9a-f]|[0-9])+$/' } })
  // V8's backtracking engine needs about 2^40 steps for this input: the test would never finish.
  assert.equal(p.evaluate({ protocol: 'activesync', deviceId: '0'.repeat(40) + '!' }).action, 'allow')
  assert.equal(p.evaluate({ protocol: 'activesync', deviceId: '0123456789abcdef' }).action, 'block')
  const nested = policy({ name: 'n', action: 'block', match: { userAgent: '/^(a+)+$/' } })
  assert.equal(nested.evaluate({ protocol: 'ews', userAgent: 'a'.repeat(500) + 'b' }).action, 'allow')
})

test('globs are matched without backtracking regexes, with the same meaning', () => {
  const p = policy({ name: 'g', action: 'block', match: { userAgent: ['*a*a*a*a*a*b', 'Out?ook-*/1.?'] } })
  assert.equal(p.evaluate({ protocol: 'ews', userAgent: 'a'.repeat(500) }).action, 'allow')
  assert.equal(p.evaluate({ protocol: 'ews', userAgent: 'xaxaxaxaxab' }).action, 'block')
  assert.equal(p.evaluate({ protocol: 'ews', userAgent: 'OUTLOOK-iOS-Android/1.0' }).action, 'block')
  assert.equal(p.evaluate({ protocol: 'ews', userAgent: 'Outlook-iOS-Android/1.10' }).action, 'allow')
})

test('decision cache keys are unambiguous: values holding separators cannot borrow another client\'s decision', () => {
  const p = policy({ name: 'block-a', action: 'block', match: { userAgent: 'a', deviceType: ['*', 'b\u0000c'] } })
  const first: ClientIdentity = { protocol: 'activesync', userAgent: 'a\u0000b', deviceType: 'c' }
  const second: ClientIdentity = { protocol: 'activesync', userAgent: 'a', deviceType: 'b\u0000c' }
  assert.notEqual(p.cacheKey(first), p.cacheKey(second))
  assert.equal(p.decide(first).action, 'allow')
  assert.equal(p.decide(second).action, 'block')
  assert.notEqual(p.cacheKey({ protocol: 'ews', userAgent: 'undefined' }), p.cacheKey({ protocol: 'ews' }))
})

test('decision cache keys are bounded whatever the client sends', () => {
  const p = policy({ name: 'ua', action: 'block', match: { userAgent: 'curl/*' } })
  const huge = 'x'.repeat(1_048_576)
  assert.ok(p.cacheKey({ protocol: 'ews', userAgent: huge }).length <= 256)
  assert.notEqual(p.cacheKey({ protocol: 'ews', userAgent: huge }), p.cacheKey({ protocol: 'ews', userAgent: huge.slice(0, 300) + 'y' }))
})

test('a user value without a domain matches the account name of every form; with a domain, that form', () => {
  const p = policy(
    { name: 'no-mallory', action: 'block', match: { user: 'mallory' } },
    { name: 'no-corp-bob', action: 'block', match: { user: 'CORP\\bob' } },
    { name: 'no-contractors', action: 'block', match: { user: 'contractor-*' } }
  )
  for (const user of ['mallory', 'MALLORY', 'CORP\\mallory', 'mallory@corp.example', 'other.domain\\Mallory']) assert.equal(p.evaluate({ protocol: 'ews', user }).rule, 'no-mallory', user)
  for (const user of ['mallory2', 'xmallory@corp.example', 'mallory\\x']) assert.equal(p.evaluate({ protocol: 'ews', user }).action, 'allow', user)
  assert.equal(p.evaluate({ protocol: 'ews', user: 'corp\\BOB' }).rule, 'no-corp-bob')
  assert.equal(p.evaluate({ protocol: 'ews', user: 'bob@corp.example' }).action, 'allow', 'a domain pattern matches its own form')
  assert.equal(p.evaluate({ protocol: 'ews', user: 'CORP\\contractor-7' }).rule, 'no-contractors')
  assert.equal(p.evaluate({ protocol: 'ews', user: 'contractor-7@corp.example' }).rule, 'no-contractors')
})
