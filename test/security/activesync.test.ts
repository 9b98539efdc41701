// Regression tests for the ActiveSync findings of the security review (issue 10, items 5, 7, 13, 15, 20, 21, 23).
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { encodeWbxml, type WbxmlElement } from '../../gateway/protocols/wbxml/codec.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { portOf, rawExchange, send } from '../helpers/http.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sec-eas-'))
const ADMIN = 'sec-eas-admin'
process.env.PORTCULLIS_SEC_EAS_ADMIN = ADMIN
const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')
const ALICE = basic('CORP\\alice', 'Alice-Pa55')
const BOB = basic('bob@corp.example', 'Bob-Pa55')
const POLICY = `rules:
  - { name: block-galaxy-s7, action: block, match: { deviceModel: "SM-G930*" } }
  - { name: quarantine-nokia, action: quarantine, match: { deviceType: Nokia } }
  - { name: no-mallory, action: block, match: { user: mallory } }
  - { name: hex-ids, action: block, match: { deviceId: "/^([0-9a-f]|[0-9])+$/" } }
`

async function setup (t: TestContext): Promise<Awaited<ReturnType<typeof startTestGateway>> & { exchange: ReturnType<typeof fakeExchange> }> {
  // Exchange knows the passwords: a wrong one gets 401, as IIS answers it.
  const exchange = fakeExchange('exch', { pingHoldMs: 100, users: { 'CORP\\alice': 'Alice-Pa55', 'bob@corp.example': 'Bob-Pa55', 'mallory@corp.example': 'Mallory-Pa55' } })
  await exchange.listen()
  closeAfter(t, exchange)
  const file = join(dir, `policy-${Math.random()}.yaml`)
  writeFileSync(file, POLICY)
  const started = await startTestGateway(t, {
    admin: { tokenEnv: 'PORTCULLIS_SEC_EAS_ADMIN' },
    upstreams: { exchange: { servers: [exchange.url] } },
    services: { activesync: { upstream: 'exchange' } },
    policies: file
  })
  return { ...started, exchange }
}

const eas = (gw: string, cmd: string, device = 'DEV1', type = 'Android'): string => `${gw}/Microsoft-Server-ActiveSync?Cmd=${cmd}&User=alice&DeviceId=${device}&DeviceType=${type}`
const HEADERS = { 'user-agent': 'Android-Mail/2020.11', 'ms-asprotocolversion': '14.1', 'content-type': 'application/vnd.ms-sync.wbxml' }
const info = (...fields: WbxmlElement[]): WbxmlElement => ({ name: 'Settings:DeviceInformation', children: [{ name: 'Settings:Set', children: fields }] })
const settings = (...children: WbxmlElement[]): Buffer => encodeWbxml({ name: 'Settings:Settings', children })
const model = (text: string): WbxmlElement => ({ name: 'Settings:Model', text })
const posts = (exchange: ReturnType<typeof fakeExchange>): number => exchange.received.filter(r => r.method === 'POST').length
const devices = async (adminUrl: string): Promise<Array<Record<string, string>>> => JSON.parse((await send(`${adminUrl}/api/devices`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.toString()).devices

/** A Settings body whose string table entry (`entry`) is referenced `references` times as the Model. */
function stringTableBomb (entry: string, references: number): Buffer {
  const table = Buffer.concat([Buffer.from(entry), Buffer.from([0])])
  const refs = Buffer.alloc(references * 2)
  for (let i = 0; i < references; i++) refs.writeUInt16BE(0x8300, i * 2) // STR_T, offset 0
  const length = table.length < 128 ? [table.length] : [0x80 | (table.length >> 7), table.length & 0x7f]
  return Buffer.concat([
    Buffer.from([0x03, 0x01, 0x6a, ...length]), table,
    Buffer.from([0x00, 18, 0x45, 0x56, 0x48, 0x57]), refs, Buffer.from([0x01, 0x01, 0x01, 0x01])
  ])
}

test('a WBXML string table referenced 16,000 times is refused with 400 before it is decoded in full', async t => {
  const { gateway, exchange } = await setup(t)
  const bomb = stringTableBomb('A'.repeat(4000), 16_000) // about 36 KB: 64 M characters if decoded whole
  const res = await send(eas(gateway.url, 'Settings'), { method: 'POST', body: bomb, headers: { ...HEADERS, authorization: ALICE } })
  assert.equal(res.status, 400)
  assert.equal(posts(exchange), 0)
  const ordinary = await send(eas(gateway.url, 'Settings'), { method: 'POST', body: stringTableBomb('SM-A515F', 1), headers: { ...HEADERS, authorization: ALICE } })
  assert.equal(ordinary.status, 200, 'an ordinary string table is fine')
  assert.equal(posts(exchange), 1)
})

test('deviceModel rules cannot be bypassed: large Settings bodies, lower-case command names, repeated or trailing elements', async t => {
  const { gateway, exchange } = await setup(t)
  const galaxy = settings(info(model('SM-G930F')))
  const padded = settings({ name: 'Settings:Oof', children: [{ name: 'Settings:Get', text: 'x'.repeat(3000) }] }, ...Array.from({ length: 30 }, () => ({ name: 'Settings:Oof', children: [{ name: 'Settings:Get', text: 'y'.repeat(3000) }] })), info(model('SM-G930F')))
  assert.ok(padded.length > 65_536, 'over 64 KiB: it used to be teed to Exchange uninspected')
  for (const [name, url, body] of [
    ['plain', eas(gateway.url, 'Settings'), galaxy],
    ['lower-case command', eas(gateway.url, 'settings'), galaxy],
    ['PROVISION in capitals', eas(gateway.url, 'PROVISION'), galaxy],
    ['over 64 KiB', eas(gateway.url, 'Settings'), padded]
  ] as const) {
    const res = await send(url, { method: 'POST', body, headers: { ...HEADERS, authorization: ALICE } })
    assert.equal(res.status, 200, name)
    assert.ok(res.body.includes(Buffer.from('129')), `${name}: Status 129`)
  }
  const refused: Array<[string, Buffer]> = [
    ['a second Model', settings(info(model('Pixel 8'), model('SM-G930F')))],
    ['a second DeviceInformation', settings(info(model('Pixel 8')), info(model('SM-G930F')))],
    ['data after the root', Buffer.concat([settings(info(model('Pixel 8'))), encodeWbxml({ name: 'Settings:Settings', children: [info(model('SM-G930F'))] }).subarray(4)])]
  ]
  for (const [name, body] of refused) {
    assert.equal((await send(eas(gateway.url, 'Settings'), { method: 'POST', body, headers: { ...HEADERS, authorization: ALICE } })).status, 400, name)
  }
  const huge = Buffer.concat([settings(info(model('Pixel 8'))), Buffer.alloc(1_100_000)])
  assert.equal((await send(eas(gateway.url, 'Settings'), { method: 'POST', body: huge, headers: { ...HEADERS, authorization: ALICE } })).status, 413, 'too large to inspect')
  assert.equal(posts(exchange), 0, 'nothing reached Exchange')
})

test('singleton headers given twice are refused with 400', async t => {
  const { gateway, exchange } = await setup(t)
  const path = '/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=DEV1&DeviceType=iPhone'
  for (const header of ['User-Agent: a', 'Authorization: ' + ALICE, 'MS-ASProtocolVersion: 14.1', 'Content-Type: text/plain', 'X-MS-PolicyKey: 1', 'SOAPAction: x']) {
    const [name] = header.split(':')
    const answer = await rawExchange(portOf(gateway.url), `POST ${path} HTTP/1.1\r\nHost: m\r\n${header}\r\n${name}: other\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, 3000)
    assert.match(answer, /^HTTP\/1\.1 400 /, header)
  }
  assert.equal(posts(exchange), 0)
})

test('control characters in identity fields, a malformed Authorization or an ambiguous query are 400', async t => {
  const { gateway, exchange } = await setup(t)
  const bad: Array<[string, string, Record<string, string>]> = [
    ['DeviceId with a control character', '?Cmd=Sync&User=alice&DeviceId=DEV%01X&DeviceType=iPhone', {}],
    ['User with DEL', '?Cmd=Sync&User=al%7Fice&DeviceId=DEV1&DeviceType=iPhone', {}],
    ['Basic user with a control character', '?Cmd=Sync&User=alice&DeviceId=DEV1&DeviceType=iPhone', { authorization: basic('CORP\\al\u0001ice', 'x') }],
    ['Basic<TAB>', '?Cmd=Sync&User=alice&DeviceId=DEV1&DeviceType=iPhone', { authorization: 'Basic\t' + ALICE.slice(6) }],
    ['User-Agent with a TAB', '?Cmd=Sync&User=alice&DeviceId=DEV1&DeviceType=iPhone', { 'user-agent': 'Apple\tiPhone' }],
    ['DeviceId longer than 32', `?Cmd=Sync&User=alice&DeviceId=${'D'.repeat(33)}&DeviceType=iPhone`, {}],
    ['a parameter given twice', '?Cmd=Sync&User=alice&DeviceId=DEV1&Cmd=Ping&DeviceType=iPhone', {}],
    ['neither plain nor base64', '?Cmd%3DSync%26', {}]
  ]
  for (const [name, query, headers] of bad) {
    const res = await send(`${gateway.url}/Microsoft-Server-ActiveSync${query}`, { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: ALICE, ...headers } })
    assert.equal(res.status, 400, name)
  }
  // A binary (base64) query whose DeviceType holds a control character.
  const binary = Buffer.from([141, 0, 0x09, 0x04, 4, 0x41, 0x42, 0x43, 0x44, 0, 3, 0x69, 0x0a, 0x50])
  assert.equal((await send(`${gateway.url}/Microsoft-Server-ActiveSync?${binary.toString('base64')}`, { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: ALICE } })).status, 400, 'binary query with a control character')
  assert.equal(posts(exchange), 0)
})

test('an exponential DeviceId regex in a rule does not stall the gateway (RE2)', async t => {
  const { gateway } = await setup(t)
  // With V8's backtracking engine this request takes about 2^40 steps: the test would time out.
  const res = await send(eas(gateway.url, 'FolderSync', '0'.repeat(31) + 'X', 'iPhone'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: ALICE } })
  assert.equal(res.status, 200)
})

test('a user rule on an account name matches every spelling of it', async t => {
  const { gateway, exchange } = await setup(t)
  for (const user of ['mallory@corp.example', 'CORP\\mallory', 'MALLORY']) {
    const res = await send(eas(gateway.url, 'FolderSync', 'M1', 'iPhone'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: basic(user, 'Mallory-Pa55') } })
    assert.ok(res.body.includes(Buffer.from('129')), user)
  }
  assert.equal(posts(exchange), 0)
})

test('the inventory is written only for what Exchange authenticated; an unauthenticated request changes nobody\'s record', async t => {
  const { gateway, exchange, logs } = await setup(t)
  // Alice's phone, authenticated: recorded with its model.
  assert.equal((await send(eas(gateway.url, 'Settings', 'PHONE1'), { method: 'POST', body: settings(info(model('Pixel 8'))), headers: { ...HEADERS, authorization: ALICE } })).status, 200)
  assert.deepEqual((await devices(gateway.adminUrl)).map(d => [d.user, d.deviceId, d.model]), [['CORP\\alice', 'PHONE1', 'Pixel 8']])
  // Someone who knows the DeviceId but not the password tries to rewrite its model (and get it blocked).
  const forged = await send(eas(gateway.url, 'Settings', 'PHONE1'), { method: 'POST', body: settings(info(model('SM-G930F'))), headers: { ...HEADERS, authorization: basic('CORP\\alice', 'guess') } })
  assert.ok(forged.body.includes(Buffer.from('129')), 'the forged Settings itself is blocked by the model rule')
  const withoutCredentials = await send(eas(gateway.url, 'Settings', 'PHONE1'), { method: 'POST', body: settings(info(model('SM-G930F'))), headers: HEADERS })
  assert.ok(withoutCredentials.body.includes(Buffer.from('129')))
  assert.deepEqual((await devices(gateway.adminUrl)).map(d => d.model), ['Pixel 8'], 'the record is unchanged')
  const next = await send(eas(gateway.url, 'FolderSync', 'PHONE1'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: ALICE } })
  assert.equal(next.status, 200)
  assert.ok(!next.body.includes(Buffer.from('129')), 'alice\'s phone is not blocked')
  // A thousand unauthenticated DeviceIds create nothing.
  for (let i = 0; i < 50; i++) await send(eas(gateway.url, 'FolderSync', `FLOOD${i}`), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: basic('CORP\\alice', 'wrong') } })
  assert.equal((await devices(gateway.adminUrl)).length, 1)
  // A quarantined device enters the queue only with credentials Exchange accepts.
  await send(eas(gateway.url, 'FolderSync', 'NOKIA1', 'Nokia'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: basic('CORP\\alice', 'wrong') } })
  assert.equal((await devices(gateway.adminUrl)).filter(d => d.state === 'quarantined').length, 0, 'wrong password: not queued')
  await send(eas(gateway.url, 'FolderSync', 'NOKIA1', 'Nokia'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: ALICE } })
  assert.deepEqual((await devices(gateway.adminUrl)).filter(d => d.state === 'quarantined').map(d => d.user), ['CORP\\alice'])
  assert.equal(posts(exchange), 52, 'allowed requests are forwarded (Exchange refused the flood); quarantined ones never')
  assert.ok(!logs.raw.includes('Alice-Pa55') && !logs.raw.includes(ALICE.slice(6)))
})

test('approvals and blocks are per (user, DeviceId): another mailbox with the same DeviceId inherits nothing', async t => {
  const { gateway, exchange } = await setup(t)
  const auth = { authorization: `Bearer ${ADMIN}` }
  for (const who of [ALICE, BOB]) await send(eas(gateway.url, 'FolderSync', 'NOKIA1', 'Nokia'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: who } })
  assert.equal((await send(`${gateway.adminUrl}/api/devices/NOKIA1/approve`, { method: 'POST', headers: auth })).status, 409, 'two users have this DeviceId: the admin must say which')
  assert.equal((await send(`${gateway.adminUrl}/api/devices/NOKIA1/approve?user=${encodeURIComponent('CORP\\alice')}`, { method: 'POST', headers: auth })).status, 200)
  const alice = await send(eas(gateway.url, 'FolderSync', 'NOKIA1', 'Nokia'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: ALICE } })
  const bob = await send(eas(gateway.url, 'FolderSync', 'NOKIA1', 'Nokia'), { method: 'POST', body: 'x', headers: { ...HEADERS, authorization: BOB } })
  assert.ok(!alice.body.includes(Buffer.from('129')), 'alice approved')
  assert.ok(bob.body.includes(Buffer.from('129')), 'bob still quarantined')
  assert.equal(posts(exchange), 1)
})
