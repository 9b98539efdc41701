// Regression tests for the robustness findings of the security review (issue 10, items 22, 30, 31, 33).
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { runCli, spawnCli } from '../helpers/cli.js'
import { ensGateway } from '../helpers/ens.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { freePort, waitFor } from '../helpers/ports.js'
import { fakeApns } from '../helpers/push.js'
import { startRedis } from '../helpers/redis.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sec-robust-'))
const BASIC = 'Basic ' + Buffer.from('CORP\\alice:Alice-Pa55').toString('base64')
process.env.PORTCULLIS_SEC_ROBUST_ADMIN = 'robust-admin'
const ADMIN = { authorization: 'Bearer robust-admin' }

function write (name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

const CURL_RULE = 'rules:\n  - { name: no-curl, action: block, match: { userAgent: "curl/*" } }\n'

async function policyGateway (t: Parameters<typeof startTestGateway>[0], policy: string, store?: Record<string, unknown>): Promise<Awaited<ReturnType<typeof startTestGateway>> & { exchange: ReturnType<typeof fakeExchange> }> {
  const exchange = fakeExchange('exch', { pingHoldMs: 100 })
  await exchange.listen()
  closeAfter(t, exchange)
  const started = await startTestGateway(t, {
    admin: { tokenEnv: 'PORTCULLIS_SEC_ROBUST_ADMIN' },
    upstreams: { exchange: { servers: [exchange.url] } },
    services: { activesync: { upstream: 'exchange' }, ews: { upstream: 'exchange' } },
    policies: policy,
    ...(store ? { store } : {})
  })
  return { ...started, exchange }
}

const curl = (gw: string): Promise<number> => send(`${gw}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=a&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: BASIC, 'user-agent': 'curl/8.4', 'ms-asprotocolversion': '12.1' } }).then(r => r.status)

test('a reload never lets an error escape: an alias bomb is a positioned problem and the previous policy stays; atomic saves reload', async t => {
  const file = write(`reload-${Math.random()}.yaml`, CURL_RULE)
  const { gateway, logs } = await policyGateway(t, file)
  assert.equal(await curl(gateway.url), 403)
  const aliases = Array.from({ length: 150 }, (_, i) => `  - { name: r${i}, action: allow, match: *m }`).join('\n')
  writeFileSync(file, `x: &m { userAgent: "nothing/*" }\nrules:\n${aliases}\n`)
  const bad = await send(`${gateway.adminUrl}/api/policies/reload`, { method: 'POST', headers: ADMIN })
  assert.equal(bad.status, 422)
  assert.match(JSON.parse(bad.body.toString()).problems[0], new RegExp(`^${file}:\\d+:\\d+: .*alias`))
  assert.equal(await curl(gateway.url), 403, 'the previous policy stays in force')
  await waitFor(async () => logs.find('policy reload failed; the previous policy stays in force').length >= 2 ? true : undefined, 5000, 'the watcher\'s reload to fail too, without crashing')
  // An editor's atomic save: a new file renamed over the old one, good, then bad, then good again.
  const save = (text: string): void => { const tmp = `${file}.tmp`; writeFileSync(tmp, text); renameSync(tmp, file) }
  save('rules: []\n')
  await waitFor(async () => await curl(gateway.url) === 200 ? true : undefined, 5000, 'the atomic save to apply')
  save('rules: [ { name: broken, action: nope, match: {} } ]\n')
  await waitFor(async () => logs.find('policy reload failed; the previous policy stays in force').some(l => String(l.problem).includes('rules.0.action')) ? true : undefined, 5000, 'the bad save to be refused')
  assert.equal(await curl(gateway.url), 200)
  save(CURL_RULE)
  await waitFor(async () => await curl(gateway.url) === 403 ? true : undefined, 5000, 'the next good save to apply')
})

test('check and start refuse the same bad configurations with the same file:line:col line and exit 1', { timeout: 120_000 }, async () => {
  const policy = write('ok-policy.yaml', CURL_RULE)
  const base = (extra: string): string => `listen: { host: 127.0.0.1, port: 0 }\npublicUrl: https://mobile.example.com\nadmin: { host: 127.0.0.1, port: 0 }\nupstreams:\n  exchange: { servers: [http://127.0.0.1:1] }\nservices:\n  activesync: { upstream: exchange }\npolicies: ${policy}\n${extra}`
  const table: Array<[string, string, RegExp]> = [
    ['bad CIDR', base('').replace('port: 0 }\npublicUrl', 'port: 0, trustedProxies: ["10.0.0.0/abc"] }\npublicUrl'), /:1:\d+: listen\.trustedProxies\.0: must be an IP address or CIDR/],
    ['request timeout too small', base('').replace('port: 0 }\npublicUrl', 'port: 0, requestTimeoutMs: 300 }\npublicUrl'), /:1:\d+: listen\.requestTimeoutMs: must be 0/],
    ['certificate file missing', base('').replace('port: 0 }\npublicUrl', 'port: 0, tls: { cert: nope.crt, key: nope.key } }\npublicUrl'), /:1:\d+: listen\.tls\.cert: cannot read/],
    ['unknown key', base('colour: blue\n'), /:9:1: colour: unknown key/],
    ['APNs key unreadable', base('ens: { enabled: true, ews: { upstream: exchange }, push: { apns: { keyFile: missing.p8, keyId: K, teamId: T, topic: t.example } } }\n'), /:9:\d+: ens\.push\.apns\.keyFile: cannot read/]
  ]
  for (const [name, text, expected] of table) {
    const file = write(`bad-${name.replace(/\W/g, '-')}.yaml`, text)
    const checked = runCli(['check', '--config', file])
    const started = runCli(['start', '--config', file])
    assert.equal(checked.code, 1, `${name}: check`)
    assert.equal(started.code, 1, `${name}: start`)
    assert.match(checked.stderr, new RegExp(`^${file}${expected.source}`), name)
    assert.equal(started.stderr.split('\n')[0], checked.stderr.split('\n')[0], `${name}: the same line from both`)
    assert.ok(!/\n\s+at /.test(started.stderr), `${name}: no stack trace`)
  }
  // A valid request timeout below the headers timeout starts (Node used to throw at start).
  const port = await freePort()
  const ok = write('short-timeout.yaml', base('').replace('port: 0 }\npublicUrl', `port: ${port}, requestTimeoutMs: 3000 }\npublicUrl`))
  assert.equal(runCli(['check', '--config', ok]).code, 0)
  const { child } = await spawnCli(['start', '--config', ok], 'gateway listening')
  child.kill('SIGTERM')
})

test('a port in use and an unknown option are one clear line and exit 1', async t => {
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.after(() => { blocker.close() })
  const port = (blocker.address() as { port: number }).port
  const file = write('busy.yaml', `listen: { host: 127.0.0.1, port: ${port} }\npublicUrl: https://mobile.example.com\nadmin: { host: 127.0.0.1, port: 0 }\nupstreams:\n  exchange: { servers: [http://127.0.0.1:1] }\nservices:\n  activesync: { upstream: exchange }\n`)
  const busy = runCli(['start', '--config', file])
  assert.equal(busy.code, 1)
  assert.match(busy.stderr, new RegExp(`^portcullis: cannot start: EADDRINUSE 127\\.0\\.0\\.1:${port}: `))
  assert.equal(busy.stderr.trim().split('\n').length, 1, busy.stderr)
  const unknown = runCli(['check', '--bogus'])
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /^portcullis: Unknown option '--bogus'/)
  assert.equal(unknown.stderr.trim().split('\n').length, 1)
})

test('Redis down: requests are answered 503 with Retry-After in the protocol\'s form, one warn line per outage, never a 500', async t => {
  const redis = await startRedis(t)
  const policy = write(`redis-policy-${Math.random()}.yaml`, CURL_RULE)
  const { gateway, logs } = await policyGateway(t, policy, { type: 'redis', redis: { url: redis.url, keyPrefix: 'down:' } })
  const folderSync = (): Promise<{ status: number, headers: Record<string, unknown> }> => send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=a&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: BASIC, 'ms-asprotocolversion': '14.1' } })
  assert.equal((await folderSync()).status, 200)
  await redis.client.call('SHUTDOWN', 'NOSAVE').catch(() => {})
  await waitFor(async () => (await folderSync()).status === 503 ? true : undefined, 5000, 'the outage to be noticed')
  for (let i = 0; i < 5; i++) {
    const res = await folderSync()
    assert.equal(res.status, 503)
    assert.equal(res.headers['retry-after'], '30')
  }
  assert.equal(logs.find('store unreachable: requests that need it are answered per store.onUnavailable until it is back').length, 1, 'one warn line for the outage')
  assert.ok(!logs.lines.some(l => l.msg === 'request failed inside the gateway'))
})

test('rules with protocol: ens apply to the ENS device API', async t => {
  const apns = await fakeApns(t)
  const exchange = fakeExchange('exch01')
  await exchange.listen()
  closeAfter(t, exchange)
  const policy = write('ens-policy.yaml', 'rules:\n  - { name: no-scripted-ens, action: block, match: { protocol: ens, userAgent: "curl/*" } }\n')
  const { gateway } = await ensGateway(t, [exchange.url], { apns, policies: policy })
  const ask = (ua: string): Promise<number> => send(`${gateway.url}/api/ens/publickey`, { method: 'POST', body: JSON.stringify({ userId: 'a'.repeat(64) }), headers: { 'content-type': 'application/json', 'user-agent': ua } }).then(r => r.status)
  assert.equal(await ask('curl/8.4'), 403)
  assert.equal(await ask('Boxer/5.0 CFNetwork'), 200)
})

test('a policy file nested thousands of levels deep is a positioned problem, not a stack overflow (found by the fuzzer)', async () => {
  const { loadPolicy } = await import('../../gateway/policy/load-policy.js')
  const { ConfigError } = await import('../../gateway/config/problems.js')
  const file = write('deep.yaml', 'rules:\n' + '  - '.repeat(20_000) + 'x\n')
  assert.throws(() => loadPolicy(file), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${file}:`))
})
