import assert from 'node:assert/strict'
import { test } from 'node:test'
import { send } from '../helpers/http.js'
import { directoryExchange, folderSync, protectedGateway, protectionState } from '../helpers/protection.js'

const USERS: Record<string, string> = { carol: 'Carol-Passw0rd', dave: 'Dave-Passw0rd' }
const SOAP = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetFolder xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>'
for (let i = 0; i < 500; i++) USERS[`user${i}`] = `Secret-${i}-x`

function totalFailures (exchange: Awaited<ReturnType<typeof directoryExchange>>): number {
  return [...exchange.directory.values()].reduce((sum, a) => sum + a.failures, 0)
}

test('a spray of 500 users from one address: at most 10 failures reach Exchange, the address is banned, no account locks, others keep working', { timeout: 120_000 }, async t => {
  const exchange = await directoryExchange(t, { ...USERS })
  const { gateway } = await protectedGateway(t, exchange)
  const statuses = new Map<number, number>()
  for (let i = 0; i < 500; i++) {
    const res = await folderSync(gateway.url, { user: `user${i}`, password: `Spring2026!-${i % 3}`, device: `SPRAY${i}`, client: '203.0.113.66' })
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
  }
  assert.ok(totalFailures(exchange) <= 10, `${totalFailures(exchange)} failures reached Exchange`)
  assert.ok([...exchange.directory.values()].every(a => a.lockouts === 0), 'no account locked')
  assert.ok((statuses.get(403) ?? 0) > 480, `banned: ${JSON.stringify([...statuses])}`)
  const banned = await folderSync(gateway.url, { user: 'carol', password: 'Carol-Passw0rd', client: '203.0.113.66' })
  assert.equal(banned.status, 403, 'even a right password from the banned address')
  assert.equal((await folderSync(gateway.url, { user: 'carol', password: 'Carol-Passw0rd', client: '198.51.100.20' })).status, 200, 'other addresses keep working')
  const state = await protectionState(gateway.adminUrl)
  assert.deepEqual(state.bannedClients.map(c => c.client), ['203.0.113.66/32'])
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_protection_refusals_total\{service="activesync",reason="client_banned"\} \d+/)
  assert.match(metrics, /portcullis_protection_locks_total\{kind="client"\} 1/)
  const unban = await send(`${gateway.adminUrl}/api/protection/clients/203.0.113.66`, { method: 'DELETE', headers: { authorization: 'Bearer protection-admin-token' } })
  assert.equal(JSON.parse(unban.body.toString()).unbanned, true)
  assert.equal((await folderSync(gateway.url, { user: 'carol', password: 'Carol-Passw0rd', client: '203.0.113.66' })).status, 200, 'unbanned')
})

test('a slow spray of one password over many addresses: at most 5 failures reach Exchange for that password', { timeout: 60_000 }, async t => {
  const exchange = await directoryExchange(t, { ...USERS })
  const { gateway } = await protectedGateway(t, exchange)
  for (let i = 0; i < 60; i++) {
    const res = await folderSync(gateway.url, { user: `user${i}`, password: 'Winter2026!', device: `SLOW${i}`, client: `192.0.2.${i + 1}` })
    assert.equal(res.status, 401)
  }
  assert.ok(totalFailures(exchange) <= 5, `${totalFailures(exchange)} failures reached Exchange`)
  assert.equal((await protectionState(gateway.adminUrl)).refusedPasswords.length, 1)
  assert.equal((await folderSync(gateway.url, { user: 'dave', password: 'Dave-Passw0rd', client: '192.0.2.200' })).status, 200, 'other passwords are not affected')
})

test('a brute-force of one user from many addresses never reaches the directory\'s threshold; the user\'s familiar phone still works', { timeout: 60_000 }, async t => {
  const exchange = await directoryExchange(t, { ...USERS })
  const { gateway } = await protectedGateway(t, exchange)
  const phone = { user: 'carol', password: 'Carol-Passw0rd', device: 'CAROLPHONE', client: '198.51.100.30' }
  assert.equal((await folderSync(gateway.url, phone)).status, 200) // familiar: this device from this network
  for (let i = 0; i < 100; i++) {
    await folderSync(gateway.url, { user: 'carol', password: `guess-${i}`, device: `ATTACK${i % 7}`, client: `10.${i}.0.1` })
    if (i % 10 === 0) assert.equal((await folderSync(gateway.url, phone)).status, 200, 'the familiar phone keeps working')
  }
  const carol = exchange.directory.get('carol')!
  assert.equal(carol.lockouts, 0)
  assert.ok(carol.maxBadPwdCount <= 2, `the directory's badPwdCount reached ${carol.maxBadPwdCount} (unfamiliar limit floor(5/2) = 2)`)
  // 2 before the lock, plus what came between the phone's first success (which resets the count, as at a DC) and the lock.
  assert.ok(carol.failures <= 3, `${carol.failures} failures reached the directory`)
  assert.deepEqual((await protectionState(gateway.adminUrl)).lockedUsers.map(u => [u.user, u.traffic]), [['carol', 'unfamiliar']])
  assert.equal((await folderSync(gateway.url, phone)).status, 200)
})

test('NTLM handshakes, Bearer tokens and challenges without credentials count nothing', { timeout: 60_000 }, async t => {
  const exchange = await directoryExchange(t, { ...USERS })
  const { gateway } = await protectedGateway(t, exchange, { clients: { maxUsers: 2 } })
  const type1 = 'NTLM ' + Buffer.concat([Buffer.from('NTLMSSP\0'), Buffer.from([1, 0, 0, 0]), Buffer.alloc(24)]).toString('base64')
  for (let i = 0; i < 20; i++) {
    const client = '203.0.113.99'
    assert.equal((await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', headers: { host: 'mobile.example.com', 'x-forwarded-for': client, 'content-type': 'text/xml' }, body: SOAP })).status, 401)
    await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', headers: { host: 'mobile.example.com', 'x-forwarded-for': client, 'content-type': 'text/xml', authorization: 'Bearer eyJ0eXAiOiJKV1QifQ.e30.sig' }, body: SOAP })
    await folderSync(gateway.url, { user: `user${i}`, client, authorization: type1 })
  }
  const state = await protectionState(gateway.adminUrl)
  assert.deepEqual(state, { lockedUsers: [], bannedClients: [], staleDevices: [], refusedPasswords: [] })
  assert.equal((await folderSync(gateway.url, { user: 'carol', password: 'Carol-Passw0rd', client: '203.0.113.99' })).status, 200)
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.doesNotMatch(metrics, /portcullis_auth_failures_total\{/)
})

test('rate limits per device, account and address: ActiveSync is throttled with 503 + X-MS-ASThrottle, others with 429, both with Retry-After', { timeout: 60_000 }, async t => {
  const exchange = await directoryExchange(t, { ...USERS })
  const { gateway } = await protectedGateway(t, exchange, { rateLimits: { device: { perMinute: 6, burst: 3, services: ['activesync'] }, client: { perMinute: 60, burst: 8 } } })
  const phone = { user: 'carol', password: 'Carol-Passw0rd', device: 'RATE1', client: '198.51.100.90' }
  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push(await folderSync(gateway.url, phone))
  assert.deepEqual(statuses.map(r => r.status), [200, 200, 200, 503, 503])
  assert.equal(statuses[3]?.headers['x-ms-asthrottle'], 'CommandFrequency')
  assert.ok(Number(statuses[3]?.headers['retry-after']) >= 1)
  assert.equal((await folderSync(gateway.url, { ...phone, device: 'RATE2' })).status, 200, 'another device of the account has its own bucket')
  const ews = []
  for (let i = 0; i < 4; i++) ews.push(await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', headers: { host: 'mobile.example.com', 'x-forwarded-for': '198.51.100.90', 'content-type': 'text/xml' }, body: SOAP }))
  assert.equal(ews.at(-1)?.status, 429, 'the address used its 8 tokens')
  assert.ok(Number(ews.at(-1)?.headers['retry-after']) >= 1)
  assert.equal((await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', headers: { host: 'mobile.example.com', 'x-forwarded-for': '198.51.100.91', 'content-type': 'text/xml' }, body: SOAP })).status, 401, 'other addresses are not limited')
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_rate_limited_total\{service="activesync",kind="device"\} 2/)
})

test('an exempt network is never banned (its failures still count against each account)', { timeout: 60_000 }, async t => {
  const exchange = await directoryExchange(t, { ...USERS })
  const { gateway } = await protectedGateway(t, exchange, { exempt: ['203.0.113.0/24'] })
  for (let i = 0; i < 30; i++) {
    const res = await folderSync(gateway.url, { user: `user${i}`, password: `Exempt-${i}-guess`, device: `EX${i}`, client: '203.0.113.5' })
    assert.equal(res.status, 401, 'refused by Exchange, never banned')
  }
  assert.equal((await protectionState(gateway.adminUrl)).bannedClients.length, 0)
  assert.equal((await folderSync(gateway.url, { user: 'carol', password: 'Carol-Passw0rd', client: '203.0.113.5' })).status, 200)
})
