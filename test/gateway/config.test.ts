import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runCli } from '../helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'))
function configFile (name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

const GOOD = `listen: { host: 127.0.0.1, port: 8443 }
publicUrl: https://mobile.example.com
upstreams:
  exchange:
    servers: [https://exch01.corp.example]
services:
  activesync: { upstream: exchange }
`

test('the shipped config.yaml passes check', () => {
  const shipped = fileURLToPath(new URL('../../config.yaml', import.meta.url))
  const result = runCli(['check', '--config', shipped], { PORTCULLIS_ADMIN_TOKEN: 'x' })
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /ok; upstreams: exchange \(2\), skype \(3\)/)
})

test('a good config passes check with a one-line summary', () => {
  const result = runCli(['check', '--config', configFile('good.yaml', GOOD)])
  assert.equal(result.code, 0)
  assert.match(result.stdout, /good\.yaml: ok; upstreams: exchange \(1\); services: activesync→exchange/)
})

test('an unknown key is an error naming file, line, column and key path', () => {
  const file = configFile('unknown.yaml', GOOD.replace('    servers:', '    healthChek: { path: / }\n    servers:'))
  const result = runCli(['check', '--config', file])
  assert.equal(result.code, 1)
  assert.equal(result.stderr.trim(), `${file}:5:5: upstreams.exchange.healthChek: unknown key`)
})

test('every problem is reported, each on its own line with its position', () => {
  const file = configFile('many.yaml', `listen: { host: 127.0.0.1, port: 99999 }
publicUrl: not a url
upstreams:
  exchange:
    servers: [ftp://exch01]
services:
  activesync: { upstream: exchange }
  ews: { upstream: nowhere }
`)
  const result = runCli(['check', '--config', file])
  assert.equal(result.code, 1)
  const lines = result.stderr.trim().split('\n')
  assert.equal(lines.length, 3, result.stderr)
  assert.match(lines[0] ?? '', new RegExp(`^${file}:1:\\d+: listen\\.port: `))
  assert.match(lines[1] ?? '', new RegExp(`^${file}:2:12: publicUrl: `))
  assert.match(lines[2] ?? '', new RegExp(`^${file}:5:15: upstreams\\.exchange\\.servers\\.0: `))
})

test('a service naming a missing upstream points at that key', () => {
  const file = configFile('ref.yaml', GOOD.replace('upstream: exchange }', 'upstream: exchnage }'))
  const result = runCli(['check', '--config', file])
  assert.equal(result.code, 1)
  assert.match(result.stderr, new RegExp(`^${file}:7:27: services\\.activesync\\.upstream: no upstream named "exchnage"`))
})

test('YAML syntax errors and unreadable files name the place too', () => {
  const file = configFile('syntax.yaml', 'publicUrl: [unclosed\nupstreams: {}\n')
  const result = runCli(['check', '--config', file])
  assert.equal(result.code, 1)
  assert.match(result.stderr, new RegExp(`^${file}:\\d+:\\d+: \\(root\\): `))
  const missing = runCli(['check', '--config', join(dir, 'absent.yaml')])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /absent\.yaml:1:1: \(root\): cannot read/)
})

test('start refuses a bad config with exit 1 and the same messages', () => {
  const file = configFile('bad-start.yaml', GOOD + 'surprise: true\n')
  const result = runCli(['start', '--config', file])
  assert.equal(result.code, 1)
  assert.equal(result.stderr.trim(), `${file}:8:1: surprise: unknown key`)
})

test('secrets are only accepted as environment variable names', () => {
  const file = configFile('secret.yaml', GOOD + 'admin: { token: hunter2 }\n')
  const result = runCli(['check', '--config', file])
  assert.equal(result.code, 1)
  assert.match(result.stderr, /admin\.token: unknown key/)
})

test('unknown commands print usage and exit 2', () => {
  const result = runCli(['frobnicate'])
  assert.equal(result.code, 2)
  assert.match(result.stderr, /usage: portcullis/)
})

test('ENS on the Redis store refuses to start without a master key', () => {
  const file = configFile('ens-redis.yaml', GOOD + `store: { type: redis, redis: { url: 'redis://127.0.0.1:6379' } }
ens: { enabled: true, ews: { upstream: exchange }, push: { webhook: { url: 'https://relay.example.com/' } } }
`)
  const result = runCli(['check', '--config', file])
  assert.equal(result.code, 1)
  assert.match(result.stderr, /ens\.masterKeyEnv: required on the Redis store/)
})

test('account protection: the directory\'s policy is required, limits stay below its threshold, Redis needs a fingerprint key', () => {
  const missing = configFile('prot-missing.yaml', GOOD + 'protection: {}\n')
  const r1 = runCli(['check', '--config', missing])
  assert.equal(r1.code, 1)
  assert.match(r1.stderr, new RegExp(`^${missing}:8:\\d+: protection\\.directory: `, 'm'))
  const high = configFile('prot-high.yaml', GOOD + 'protection:\n  directory: { lockoutThreshold: 5, observationWindowMinutes: 30 }\n  users: { familiarLimit: 5 }\n')
  const r2 = runCli(['check', '--config', high])
  assert.equal(r2.code, 1)
  assert.match(r2.stderr, new RegExp(`^${high}:10:\\d+: protection\\.users\\.familiarLimit: must stay below the directory's lockoutThreshold \\(5\\)`, 'm'))
  const redis = configFile('prot-redis.yaml', GOOD + 'store: { type: redis, redis: { url: "redis://127.0.0.1:6379" } }\nprotection:\n  directory: { lockoutThreshold: 5, observationWindowMinutes: 30 }\n')
  const r3 = runCli(['check', '--config', redis])
  assert.equal(r3.code, 1)
  assert.match(r3.stderr, /protection\.keyEnv: required on the Redis store/)
  const good = configFile('prot-good.yaml', GOOD + 'protection:\n  directory: { lockoutThreshold: 5, observationWindowMinutes: 30 }\n  exempt: [10.0.0.0/8]\n')
  assert.equal(runCli(['check', '--config', good]).code, 0)
})
