import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { CompiledPolicy } from '../../policies/compile.js'
import type { ClientIdentity } from '../../policies/identity.js'
import { loadPolicy } from '../../gateway/policy/load-policy.js'
import { ruleSchema, type Rule } from '../../policies/schema.js'
import { ConfigError } from '../../gateway/config/problems.js'

const rule = (name: string, action: Rule['action'], match: Record<string, unknown>): Rule => ruleSchema.parse({ name, action, match })
const outlook: ClientIdentity = { protocol: 'activesync', userAgent: 'Outlook-iOS-Android/1.0', deviceType: 'Outlook', deviceId: 'ABC123', deviceModel: 'Outlook for iOS and Android', deviceOS: 'iOS 17.1', user: 'CORP\\alice', command: 'Sync', method: 'POST', path: '/Microsoft-Server-ActiveSync', clientIp: '20.1.2.3', authScheme: 'basic', headers: { 'ms-asprotocolversion': '14.1' } }

test('every match field decides, alone and together', () => {
  const cases: Array<[Record<string, unknown>, boolean]> = [
    [{ protocol: 'activesync' }, true], [{ protocol: ['ews', 'ucwa'] }, false],
    [{ userAgent: 'outlook-ios-android/1.0' }, true], [{ userAgent: 'Outlook-iOS-Android/*' }, true], [{ userAgent: 'Outlook-iOS/*' }, false],
    [{ deviceType: 'OUTLOOK' }, true], [{ deviceId: 'abc12?' }, true], [{ deviceModel: '*iOS and Android' }, true],
    [{ deviceOS: '/^iOS 1[7-9]\\./' }, true], [{ deviceOS: '/^ios/' }, false], [{ deviceOS: '/^ios/i' }, true],
    [{ user: 'corp\\alice' }, true], [{ user: ['bob', 'CORP\\*'] }, true], [{ command: ['Ping', 'Sync'] }, true],
    [{ method: 'GET' }, false], [{ path: '/microsoft-server-activesync' }, true],
    [{ clientIp: '20.0.0.0/8' }, true], [{ clientIp: ['10.0.0.0/8', '2001:db8::/32'] }, false],
    [{ authScheme: 'basic' }, true], [{ authScheme: ['bearer', 'ntlm'] }, false],
    [{ headers: { 'MS-ASProtocolVersion': '14.*' } }, true], [{ headers: { 'X-Absent': '*' } }, false],
    [{ not: { authScheme: 'bearer' } }, true], [{ not: { userAgent: 'Outlook*' } }, false],
    [{ protocol: 'activesync', userAgent: 'Outlook*', authScheme: 'basic' }, true], [{ protocol: 'activesync', authScheme: 'bearer' }, false]
  ]
  for (const [match, expected] of cases) {
    const policy = new CompiledPolicy([rule('r', 'block', match)], 'allow')
    assert.equal(policy.decide(outlook).action, expected ? 'block' : 'allow', JSON.stringify(match))
  }
})

test('a field the request does not have never matches, and its not: always does', () => {
  const bare: ClientIdentity = { protocol: 'ews' }
  assert.equal(new CompiledPolicy([rule('r', 'block', { deviceModel: '*' })], 'allow').decide(bare).action, 'allow')
  assert.equal(new CompiledPolicy([rule('r', 'quarantine', { not: { deviceModel: ['SM-S9*'] } })], 'allow').decide(bare).action, 'quarantine')
})

test('first match wins; nothing matching means the default', () => {
  const policy = new CompiledPolicy([rule('allow-bearer', 'allow', { authScheme: 'bearer' }), rule('block-outlook', 'block', { userAgent: 'Outlook*' }), rule('q', 'quarantine', { protocol: 'activesync' })], 'quarantine')
  assert.deepEqual(policy.decide(outlook), { action: 'block', rule: 'block-outlook', reason: undefined })
  assert.equal(policy.decide({ ...outlook, authScheme: 'bearer' }).rule, 'allow-bearer')
  assert.equal(policy.decide({ protocol: 'ews' }).rule, 'default')
  assert.equal(policy.decide({ protocol: 'ews' }).action, 'quarantine')
})

test('inputs are bounded before matching', () => {
  const policy = new CompiledPolicy([rule('long', 'block', { userAgent: '*tail' })], 'allow')
  assert.equal(policy.decide({ protocol: 'ews', userAgent: 'x'.repeat(10_000) + 'tail' }).action, 'allow')
  assert.equal(policy.decide({ protocol: 'ews', userAgent: 'x'.repeat(100) + 'tail' }).action, 'block')
})

const dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-'))
const write = (name: string, text: string): string => { writeFileSync(join(dir, name), text); return join(dir, name) }

test('include puts the included rules first and the top file sets the default', () => {
  write('pack.yaml', 'rules:\n  - { name: from-pack, action: block, match: { userAgent: "Outlook*" } }\n')
  const top = write('top.yaml', 'include: [pack.yaml]\ndefault: quarantine\nrules:\n  - { name: top-rule, action: allow, match: { protocol: activesync } }\n')
  const { policy, files } = loadPolicy(top)
  assert.deepEqual(policy.rules.map(r => r.rule.name), ['from-pack', 'top-rule'])
  assert.equal(policy.decide(outlook).rule, 'from-pack')
  assert.equal(policy.decide({ protocol: 'ews' }).action, 'quarantine')
  assert.equal(files.length, 2)
})

test('bad policy files are refused with file, line and key; regexes RE2 cannot run too', () => {
  const bad = write('bad.yaml', `rules:
  - name: ok
    action: block
    match: { userAgent: "a*" }
  - name: redos
    action: block
    match: { userAgent: "/(?=a)b/" }
  - name: typo
    action: blok
    match: { userAgnt: x }
`)
  assert.throws(() => loadPolicy(bad), (err: unknown) => {
    assert.ok(err instanceof ConfigError)
    const lines = err.message.split('\n')
    assert.ok(lines.some(l => l.startsWith(`${bad}:7:12: rules.1.match: invalid regular expression`)), err.message)
    assert.ok(lines.some(l => l.startsWith(`${bad}:9:13: rules.2.action:`)), err.message)
    assert.ok(lines.some(l => l.startsWith(`${bad}:10:14: rules.2.match.userAgnt: unknown key`)), err.message)
    return true
  })
  const cycle = write('cycle-a.yaml', 'include: [cycle-b.yaml]\n')
  write('cycle-b.yaml', 'include: [cycle-a.yaml]\n')
  assert.throws(() => loadPolicy(cycle), /include cycle/)
  assert.throws(() => loadPolicy(write('dup.yaml', 'rules:\n  - { name: a, action: block, match: {} }\n  - { name: a, action: allow, match: {} }\n')), /already used/)
  assert.throws(() => loadPolicy(write('ip.yaml', 'rules:\n  - { name: a, action: block, match: { clientIp: 10.0.0.0/33 } }\n')), /bad prefix length/)
})

test('the shipped policies load, block the Outlook cloud service and let every ordinary client through', () => {
  const { policy } = loadPolicy(new URL('../../policies/policies.yaml', import.meta.url).pathname)
  assert.equal(policy.decide(outlook).action, 'block')
  assert.equal(policy.decide({ ...outlook, authScheme: 'bearer' }).action, 'allow', 'Outlook with modern auth (HMA)')
  const ordinary: ClientIdentity[] = [
    { protocol: 'activesync', userAgent: 'Apple-iPhone15C2/2101.132', deviceType: 'iPhone', authScheme: 'basic', headers: { 'ms-asprotocolversion': '16.1' } },
    { protocol: 'activesync', userAgent: 'Android-Mail/2023.10.15', deviceType: 'Android', authScheme: 'basic', headers: { 'ms-asprotocolversion': '14.1' } },
    { protocol: 'activesync', userAgent: 'Outlook-iOS/2.0', deviceType: 'Outlook', authScheme: 'bearer', headers: { 'ms-asprotocolversion': '16.1' } },
    { protocol: 'ews', userAgent: 'Mac OS X/14.1 (23B74); ExchangeWebServices/13.0 (293); Mail/16.0', authScheme: 'basic' },
    { protocol: 'ucwa', userAgent: 'Skype for Business iOS', authScheme: 'bearer' },
    { protocol: 'ucwa', userAgent: 'ACOMO Skype for Business/6.25 (iPhone)', method: 'POST', path: '/WebTicket/oauthtoken', authScheme: 'none' },
    { protocol: 'autodiscover', userAgent: 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0)', method: 'POST', path: '/autodiscover/autodiscover.xml', authScheme: 'ntlm' },
    { protocol: 'autodiscover', userAgent: 'Outlook-iOS/2.0', method: 'GET', path: '/autodiscover/autodiscover.json', authScheme: 'none' },
    { protocol: 'activesync', userAgent: 'Apple-iPhone15C2/2101.132', deviceType: 'iPhone', method: 'OPTIONS', path: '/Microsoft-Server-ActiveSync', authScheme: 'basic' }
  ]
  for (const client of ordinary) {
    const decision = policy.decide(client)
    assert.equal(decision.action, 'allow', client.userAgent)
    assert.equal(decision.flags, undefined, `${client.userAgent} is not flagged`)
  }
})

test('the spray-tools pack flags the tools\' request shapes, and a flag never lets a blocked client through', () => {
  const { policy } = loadPolicy(new URL('../../policies/policies.yaml', import.meta.url).pathname)
  const tools: Array<[ClientIdentity, string]> = [
    [{ protocol: 'autodiscover', userAgent: 'ruler', method: 'GET', path: '/autodiscover/autodiscover.xml', authScheme: 'ntlm' }, 'spray-autodiscover-get-with-credentials'],
    [{ protocol: 'autodiscover', userAgent: 'python-requests/2.31.0', method: 'GET', path: '/autodiscover/autodiscover.xml', authScheme: 'basic' }, 'spray-autodiscover-get-with-credentials'],
    [{ protocol: 'ews', userAgent: 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.1', method: 'POST', path: '/EWS/Exchange.asmx', authScheme: 'basic' }, 'spray-tool-user-agents'],
    [{ protocol: 'ucwa', userAgent: 'python-requests/2.31.0', method: 'POST', path: '/WebTicket/oauthtoken', authScheme: 'none' }, 'spray-webticket-password-grant']
  ]
  for (const [client, rule] of tools) {
    const decision = policy.decide(client)
    assert.equal(decision.action, 'allow', client.userAgent)
    assert.ok(decision.flags?.includes(rule), `${client.userAgent}: ${JSON.stringify(decision.flags)}`)
  }
  const flaggedAndBlocked = policy.decide({ ...outlook, userAgent: 'Outlook-iOS-Android/1.0 python-requests/2.31.0' })
  assert.equal(new CompiledPolicy([rule('f', 'flag', { userAgent: '*python*' }), rule('b', 'block', { userAgent: '*python*' })], 'allow').decide({ protocol: 'ews', userAgent: 'python-requests/2' }).action, 'block', 'a later block still decides')
  assert.equal(flaggedAndBlocked.action, 'block')
})

test('the rule index never changes a decision: indexed and linear evaluation agree', () => {
  const rules: Rule[] = [
    rule('exact-type', 'block', { deviceType: ['Nokia', 'Palm'] }),
    rule('ua-prefix', 'quarantine', { userAgent: ['Vendor1-Mail/*', 'vendor2*'], not: { authScheme: 'bearer' } }),
    rule('model-regex', 'block', { deviceModel: '/^SM-G9[0-3]\\d[A-Z]?$/' }),
    rule('model-optional', 'block', { deviceModel: '/^Pixelz?7/i' }),
    rule('model-alternation', 'block', { deviceModel: '/^(Moto|LG)-/' }),
    rule('user-and-ip', 'block', { user: 'mallory@example.com', clientIp: '203.0.113.0/24' }),
    rule('protocol-only', 'quarantine', { protocol: 'ucwa', headers: { 'X-Legacy': 'yes' } }),
    rule('suffix', 'block', { userAgent: '*bot' }),
    rule('no-anchor', 'block', { not: { authScheme: ['basic', 'bearer', 'ntlm'] } })
  ]
  const policy = new CompiledPolicy(rules, 'allow')
  const values = {
    protocol: ['activesync', 'ews', 'ucwa'] as const,
    userAgent: [undefined, 'Vendor1-Mail/3', 'VENDOR22', 'vendor3', 'Googlebot', 'Apple-iPhone'],
    deviceType: [undefined, 'nokia', 'PALM', 'iPhone'],
    deviceModel: [undefined, 'SM-G930F', 'SM-G990F', 'sm-g930f', 'Pixel7 Pro', 'pixel7', 'Pixelz7', 'Moto-G', 'LG-V30', 'Nokia'],
    user: [undefined, 'mallory@example.com', 'alice@example.com'],
    clientIp: ['203.0.113.9', '198.51.100.1'],
    authScheme: ['basic', 'bearer', 'none'],
    legacy: [undefined, 'yes']
  }
  let compared = 0
  for (const protocol of values.protocol) {
    for (const userAgent of values.userAgent) {
      for (const deviceType of values.deviceType) {
        for (const deviceModel of values.deviceModel) {
          for (const user of values.user) {
            for (const clientIp of values.clientIp) {
              for (const authScheme of values.authScheme) {
                for (const legacy of values.legacy) {
                  const id: ClientIdentity = { protocol, userAgent, deviceType, deviceModel, user, clientIp, authScheme, headers: legacy ? { 'x-legacy': legacy } : {} }
                  assert.deepEqual(policy.evaluate(id), policy.evaluateLinear(id), JSON.stringify(id))
                  compared++
                }
              }
            }
          }
        }
      }
    }
  }
  assert.ok(compared > 10_000)
})
