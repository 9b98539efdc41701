import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { waitFor } from '../helpers/ports.js'
import { directoryExchange, failuresAt, folderSync, protectedGateway } from '../helpers/protection.js'
import { startRedis } from '../helpers/redis.js'
import { runCli } from '../helpers/cli.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const USERS: Record<string, string> = { erin: 'Erin-Passw0rd-42' }
for (let i = 0; i < 100; i++) USERS[`shared${i}`] = `Shared-${i}-secret`

test('two gateways on one Redis share every counter: a spray split across both is stopped as early as on one', { timeout: 60_000 }, async t => {
  const redis = await startRedis(t)
  const exchange = await directoryExchange(t, { ...USERS })
  const store = { type: 'redis', redis: { url: redis.url, keyPrefix: 'pc:' } }
  const one = await protectedGateway(t, exchange, {}, { store })
  const two = await protectedGateway(t, exchange, {}, { store })
  for (let i = 0; i < 100; i++) {
    const gateway = i % 2 === 0 ? one.gateway : two.gateway
    await folderSync(gateway.url, { user: `shared${i}`, password: `Autumn2026-${i % 4}`, device: `SH${i}`, client: '203.0.113.77' })
  }
  const reached = [...exchange.directory.values()].reduce((sum, a) => sum + a.failures, 0)
  assert.ok(reached <= 10, `${reached} failures reached Exchange across both gateways`)
  assert.equal((await folderSync(two.gateway.url, { user: 'erin', password: 'Erin-Passw0rd-42', client: '203.0.113.77' })).status, 403, 'the ban one set holds on the other')

  // The stale-phone flow across gateways: the refusal one recorded is answered by the other.
  assert.equal((await folderSync(one.gateway.url, { user: 'erin', password: 'wrong-one', device: 'ERIN1', client: '198.51.100.40' })).status, 401)
  assert.equal((await folderSync(two.gateway.url, { user: 'erin', password: 'wrong-one', device: 'ERIN1', client: '198.51.100.40' })).status, 401)
  assert.equal(failuresAt(exchange, 'erin'), 1, 'the second gateway answered the known-bad credential itself')
})

test('the store holds no password and no unkeyed hash of one; nor do the logs', { timeout: 60_000 }, async t => {
  const redis = await startRedis(t)
  const exchange = await directoryExchange(t, { ...USERS })
  const { gateway, logs } = await protectedGateway(t, exchange, {}, { store: { type: 'redis', redis: { url: redis.url, keyPrefix: 'pc:' } } })
  const secrets = ['Erin-Passw0rd-42', 'Hunter2-Wrong!', 'Spray-Me-2026'] as const
  await folderSync(gateway.url, { user: 'erin', password: secrets[0], device: 'E1', client: '198.51.100.50' })
  await folderSync(gateway.url, { user: 'erin', password: secrets[1], device: 'E2', client: '198.51.100.51' })
  for (let i = 0; i < 8; i++) await folderSync(gateway.url, { user: `shared${i}`, password: secrets[2], device: `S${i}`, client: `192.0.2.${i + 1}` })
  let dump = ''
  for (const key of await redis.client.keys('*')) {
    const type = await redis.client.type(key)
    const value = type === 'string' ? await redis.client.get(key) : type === 'set' ? (await redis.client.smembers(key)).join(' ') : type === 'hash' ? JSON.stringify(await redis.client.hgetall(key)) : type === 'zset' ? (await redis.client.zrange(key, 0, -1)).join(' ') : ''
    dump += `${key} ${value}\n`
  }
  assert.ok(dump.includes('prot:bad:'), 'the dump is of protection state')
  for (const secret of secrets) {
    const forms = [secret, Buffer.from(secret).toString('base64'), ...['hex', 'base64', 'base64url'].flatMap(enc => [
      createHash('sha256').update(secret).digest(enc as 'hex'),
      createHash('sha256').update(`erin:${secret}`).digest(enc as 'hex'),
      createHash('sha256').update(`erin\u0000${secret}`).digest(enc as 'hex')
    ])]
    for (const form of forms) {
      assert.ok(!dump.includes(form), `the store holds ${form}`)
      assert.ok(!logs.raw.includes(form), `the logs hold ${form}`)
    }
  }
})

test('Redis down: credentials this gateway saw succeed keep working, new ones get 503 with Retry-After, nothing is a 500', { timeout: 60_000 }, async t => {
  const redis = await startRedis(t)
  const exchange = await directoryExchange(t, { ...USERS, frank: 'Frank-Passw0rd' })
  const { gateway, logs } = await protectedGateway(t, exchange, {}, { store: { type: 'redis', redis: { url: redis.url, keyPrefix: 'pc:' } } })
  const known = { user: 'frank', password: 'Frank-Passw0rd', device: 'F1', client: '198.51.100.60' }
  assert.equal((await folderSync(gateway.url, known)).status, 200)
  await redis.client.call('SHUTDOWN', 'NOSAVE').catch(() => {})
  await waitFor(async () => (await folderSync(gateway.url, { user: 'shared1', password: 'Shared-1-secret', client: '198.51.100.61' })).status === 503 ? true : undefined, 5000, 'the outage to be noticed')
  const fresh = await folderSync(gateway.url, { user: 'shared2', password: 'Shared-2-secret', client: '198.51.100.62' })
  assert.equal(fresh.status, 503)
  assert.equal(fresh.headers['retry-after'], '30')
  assert.equal((await folderSync(gateway.url, known)).status, 200, 'a credential seen to succeed passes')
  assert.ok(!logs.lines.some(l => l.msg === 'request failed inside the gateway'))
  assert.equal(logs.lines.filter(l => l.msg === 'protection: store unavailable').length, 1)
})

test('portcullis explain --user shows an account\'s protection state from the shared store', { timeout: 60_000 }, async t => {
  const redis = await startRedis(t)
  const exchange = await directoryExchange(t, { ...USERS })
  const store = { type: 'redis', redis: { url: redis.url, keyPrefix: 'pc:' } }
  const { gateway } = await protectedGateway(t, exchange, {}, { store })
  assert.equal((await folderSync(gateway.url, { user: 'erin', password: 'Erin-Passw0rd-42', device: 'ERINPHONE', client: '198.51.100.70' })).status, 200)
  for (let i = 0; i < 4; i++) await folderSync(gateway.url, { user: 'erin', password: `guess-${i}`, device: `X${i}`, client: `10.9.${i}.1` })
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-explain-')), 'config.yaml')
  writeFileSync(file, `publicUrl: https://mobile.example.com\nupstreams: { exchange: { servers: ["${exchange.url}"] } }\nservices: { activesync: { upstream: exchange } }\npolicies: ${new URL('../../policies/policies.yaml', import.meta.url).pathname}\nstore: { type: redis, redis: { url: "${redis.url}", keyPrefix: "pc:" } }\nprotection:\n  keyEnv: PORTCULLIS_PROTECTION_KEY\n  directory: { lockoutThreshold: 5, observationWindowMinutes: 30 }\n`)
  const out = runCli(['explain', '--config', file, '--protocol', 'activesync', '--user-agent', 'Apple-iPhone15C2/2104.154', '--user', 'CORP\\erin'])
  assert.equal(out.code, 0, out.stderr)
  assert.match(out.stdout, /protection for erin: unfamiliar traffic locked until \S+ \(limit 2 per window\), familiar traffic not locked \(limit 3\); 1 familiar device\(s\), 1 network\(s\), 1 credential\(s\) seen to succeed/)
})
