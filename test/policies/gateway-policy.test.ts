import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { fakeSkypeFrontEnd } from '../../gateway/lab/fake-skype.js'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { encodeWbxml } from '../../gateway/protocols/wbxml/codec.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { libwbxml } from '../helpers/libwbxml.js'
import { send } from '../helpers/http.js'
import { waitFor } from '../helpers/ports.js'
import { startRedis } from '../helpers/redis.js'

/** A minimal EWS request: a rule reads `command`, so EWS bodies must be SOAP. */
const SOAP = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetFolder xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>'
const dir = mkdtempSync(join(tmpdir(), 'portcullis-gw-policy-'))
const BASIC = 'Basic ' + Buffer.from('CORP\\alice:Secret-Pa55').toString('base64')
const OUTLOOK_UA = 'Outlook-iOS-Android/1.0'
const ADMIN = 'policy-test-admin-token'
process.env.PORTCULLIS_POLICY_TEST_TOKEN = ADMIN

function policyFile (name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

const BASE_POLICY = `include: [${new URL('../../policies/credential-harvesting.yaml', import.meta.url).pathname}]
rules:
  - { name: block-galaxy-s7, action: block, match: { deviceModel: "SM-G930*" } }
  - { name: quarantine-nokia, action: quarantine, match: { deviceType: Nokia } }
  - { name: block-old-os, action: block, match: { deviceOS: "Android 4*" } }
  - { name: block-scripts, action: block, match: { userAgent: "curl/*" } }
  - { name: no-ews-export, action: block, match: { protocol: ews, command: ExportItems } }
`

async function setup (t: TestContext, policy = BASE_POLICY, store?: Record<string, unknown>): Promise<Awaited<ReturnType<typeof startTestGateway>> & { exchange: ReturnType<typeof fakeExchange>, skype: SimServer, file: string }> {
  const exchange = fakeExchange('exch', { pingHoldMs: 100, users: { 'CORP\\alice': 'Secret-Pa55' } })
  const skype = fakeSkypeFrontEnd('fe')
  await Promise.all([exchange.listen(), skype.listen()])
  closeAfter(t, exchange, skype)
  const file = policyFile(`policy-${Math.random()}.yaml`, policy)
  const started = await startTestGateway(t, {
    admin: { tokenEnv: 'PORTCULLIS_POLICY_TEST_TOKEN' },
    upstreams: { exchange: { servers: [exchange.url] }, skype: { servers: [skype.url] } },
    services: { activesync: { upstream: 'exchange' }, ews: { upstream: 'exchange' }, autodiscover: { upstream: 'exchange' }, ucwa: { upstream: 'skype' } },
    policies: file,
    ...(store ? { store } : {})
  })
  return { ...started, exchange, skype, file }
}

const eas = (gw: string, cmd: string, device = 'DEV1', type = 'iPhone'): string => `${gw}/Microsoft-Server-ActiveSync?Cmd=${cmd}&User=alice&DeviceId=${device}&DeviceType=${type}`
const outlookHeaders = (version = '14.1'): Record<string, string> => ({ authorization: BASIC, 'user-agent': OUTLOOK_UA, 'ms-asprotocolversion': version, 'content-type': 'application/vnd.ms-sync.wbxml' })

test('a blocked 14.1 client gets its command\'s own WBXML answer with Status 129, decoded by libwbxml', async t => {
  const { gateway, exchange, logs } = await setup(t)
  const expected: Record<string, RegExp> = {
    FolderSync: /<FolderSync xmlns="FolderHierarchy:"><Status>129<\/Status><\/FolderSync>/,
    Sync: /<Sync xmlns="AirSync:"><Status>129<\/Status><\/Sync>/,
    Ping: /<Ping xmlns="Ping:"><Status>129<\/Status><\/Ping>/,
    Provision: /<Provision xmlns="Provision:"><Status>129<\/Status><\/Provision>/,
    Settings: /<Settings xmlns="Settings:"><Status>129<\/Status><\/Settings>/,
    ItemOperations: /<ItemOperations xmlns="ItemOperations:"><Status>129<\/Status><\/ItemOperations>/,
    SendMail: /<SendMail xmlns="ComposeMail:"><Status>129<\/Status><\/SendMail>/
  }
  for (const [cmd, xml] of Object.entries(expected)) {
    const body = cmd === 'Settings' || cmd === 'Provision' ? encodeWbxml({ name: `${cmd}:${cmd}` }) : 'x'
    const res = await send(eas(gateway.url, cmd, 'OUTLOOK1', 'Outlook'), { method: 'POST', body, headers: outlookHeaders() })
    assert.equal(res.status, 200, cmd)
    assert.equal(res.headers['content-type'], 'application/vnd.ms-sync.wbxml')
    assert.match(libwbxml(res.body), xml, cmd)
  }
  assert.equal(exchange.received.length, 0, 'nothing blocked reached Exchange')
  const line = logs.find('client blocked')[0]
  assert.equal(line?.rule, 'block-outlook-cloud-basic-auth')
  assert.equal(line?.user, 'CORP\\alice')
  assert.equal(line?.deviceId, 'OUTLOOK1')
  assert.equal(line?.userAgent, OUTLOOK_UA)
  assert.ok(!logs.raw.includes('Secret-Pa55'))
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_policy_decisions_total\{rule="block-outlook-cloud-basic-auth",action="block"\} 7/)
})

test('older protocol versions, OPTIONS and commands without a Status get 403; EWS, Autodiscover 403; UCWA 403 JSON', async t => {
  const { gateway, exchange, skype } = await setup(t)
  assert.equal((await send(eas(gateway.url, 'FolderSync'), { method: 'POST', body: 'x', headers: outlookHeaders('12.1') })).status, 403)
  assert.equal((await send(`${gateway.url}/Microsoft-Server-ActiveSync`, { method: 'OPTIONS', headers: outlookHeaders() })).status, 403)
  assert.equal((await send(eas(gateway.url, 'MoveItems'), { method: 'POST', body: 'x', headers: outlookHeaders() })).status, 403)
  assert.equal((await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: SOAP, headers: { 'user-agent': 'curl/8.4', authorization: BASIC } })).status, 403)
  assert.equal((await send(`${gateway.url}/autodiscover/autodiscover.xml`, { method: 'POST', body: '<x/>', headers: { 'user-agent': 'curl/8.4' } })).status, 403)
  const ucwa = await send(`${gateway.url}/ucwa/oauth/v1/applications`, { method: 'POST', body: JSON.stringify({ UserAgent: 'curl/8.4', EndpointId: '1' }), headers: { authorization: 'Bearer cwt=x', 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0' } })
  assert.equal(ucwa.status, 403)
  assert.equal(JSON.parse(ucwa.body.toString()).code, 'Forbidden')
  assert.equal(exchange.received.length + skype.received.length, 0)
  // Ordinary clients pass.
  const ok = await send(eas(gateway.url, 'FolderSync'), { method: 'POST', body: 'x', headers: { authorization: BASIC, 'user-agent': 'Apple-iPhone15C2/2101.132', 'ms-asprotocolversion': '16.1' } })
  assert.equal(ok.status, 200)
  assert.equal(exchange.received.length, 1)
})

test('Settings DeviceInformation is remembered: a deviceModel rule applies to the device\'s next request', async t => {
  const { gateway, exchange } = await setup(t)
  const settings = encodeWbxml({ name: 'Settings:Settings', children: [{ name: 'Settings:DeviceInformation', children: [{ name: 'Settings:Set', children: [{ name: 'Settings:Model', text: 'SM-G930F' }, { name: 'Settings:OS', text: 'Android 8.0' }, { name: 'Settings:UserAgent', text: 'Android-SAMSUNG-SM-G930F/101.80001' }] }] }] })
  const headers = { authorization: BASIC, 'user-agent': 'Android-SAMSUNG-SM-G930F/101.80001', 'ms-asprotocolversion': '14.1', 'content-type': 'application/vnd.ms-sync.wbxml' }
  // The Settings request itself carries the model, so it is already blocked ...
  const first = await send(eas(gateway.url, 'Settings', 'GALAXY7', 'SAMSUNGSMG930F'), { method: 'POST', body: settings, headers })
  assert.equal(first.status, 200)
  assert.match(libwbxml(first.body), /<Status>129<\/Status>/)
  // ... and so is every later request of that device, which does not carry it.
  const next = await send(eas(gateway.url, 'Sync', 'GALAXY7', 'SAMSUNGSMG930F'), { method: 'POST', body: 'x', headers })
  assert.match(libwbxml(next.body), /<Sync xmlns="AirSync:"><Status>129/)
  assert.deepEqual(exchange.received.map(r => r.method), ['OPTIONS'], 'only the credential check reached Exchange')
  const devices = JSON.parse((await send(`${gateway.adminUrl}/api/devices`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.toString()).devices
  assert.equal(devices[0].model, 'SM-G930F')
  assert.equal(devices[0].os, 'Android 8.0')
})

test('a Provision body passes to Exchange byte-identical while its DeviceInformation is read', async t => {
  const { gateway, exchange } = await setup(t)
  const provision = Buffer.from('03016a00000e45001256485703534d2d4d3231354600015903534d2d4d3231354600015a03416e64726f696420313000016003416e64726f69642d4d61696c2f323032302e31312e32392e3334363138323130322e52656c6561736500010101000e464748034d532d4541532d50726f766973696f6e696e672d5742584d4c0001010101', 'hex')
  const res = await send(eas(gateway.url, 'Provision', 'M21'), { method: 'POST', body: provision, headers: { authorization: BASIC, 'ms-asprotocolversion': '14.1', 'user-agent': 'Android-Mail/2020.11.29' } })
  assert.equal(res.status, 200)
  assert.equal(exchange.received[0]?.bodyLength, provision.length)
  const devices = JSON.parse((await send(`${gateway.adminUrl}/api/devices`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.toString()).devices
  assert.equal(devices[0].model, 'SM-M215F')
})

test('quarantine → the admin approves through the API → allowed; an admin block wins over every rule', async t => {
  const { gateway, exchange, logs } = await setup(t)
  const headers = { authorization: BASIC, 'user-agent': 'NokiaMail/1.0', 'ms-asprotocolversion': '14.1' }
  const quarantined = await send(eas(gateway.url, 'FolderSync', 'NOKIA1', 'Nokia'), { method: 'POST', body: 'x', headers })
  assert.match(libwbxml(quarantined.body), /<Status>129<\/Status>/)
  const auth = { authorization: `Bearer ${ADMIN}` }
  const pending = JSON.parse((await send(`${gateway.adminUrl}/api/devices?state=quarantined`, { headers: auth })).body.toString()).devices
  assert.equal(pending.length, 1)
  assert.equal(pending[0].deviceId, 'NOKIA1')
  assert.equal(pending[0].user, 'CORP\\alice')
  assert.equal(pending[0].rule, 'quarantine-nokia')
  const logged = logs.find('device quarantined')[0]
  assert.deepEqual({ rule: logged?.rule, user: logged?.user, deviceId: logged?.deviceId, userAgent: logged?.userAgent }, { rule: 'quarantine-nokia', user: 'CORP\\alice', deviceId: 'NOKIA1', userAgent: 'NokiaMail/1.0' })
  assert.ok(pending[0].firstSeen)
  assert.equal((await send(`${gateway.adminUrl}/api/devices/NOKIA1/approve`, { method: 'POST', headers: auth })).status, 200)
  assert.equal((await send(eas(gateway.url, 'FolderSync', 'nokia1', 'Nokia'), { method: 'POST', body: 'x', headers })).status, 200)
  assert.deepEqual(exchange.received.map(r => r.method), ['OPTIONS', 'POST'], 'the quarantine checked the credentials (OPTIONS); approved, it reaches Exchange (device ids compare case-insensitively)')
  assert.equal((await send(`${gateway.adminUrl}/api/devices/NOKIA1/block`, { method: 'POST', headers: auth })).status, 200)
  const blocked = await send(eas(gateway.url, 'Sync', 'NOKIA1', 'Nokia'), { method: 'POST', body: 'x', headers })
  assert.match(libwbxml(blocked.body), /<Status>129<\/Status>/)
  assert.equal((await send(`${gateway.adminUrl}/api/devices`, { headers: {} })).status, 401, 'the device API needs the token')
})

test('hot reload: a good file applies, a bad one keeps the previous policy and says where it failed', async t => {
  const { gateway, file, logs } = await setup(t)
  const curl = (): Promise<number> => send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: SOAP, headers: { 'user-agent': 'curl/8.4', authorization: BASIC } }).then(r => r.status)
  assert.equal(await curl(), 403)
  writeFileSync(file, 'rules: []\n')
  await waitFor(async () => await curl() === 200 ? true : undefined, 5000, 'the file change to apply')
  writeFileSync(file, 'rules:\n  - { name: broken, action: block, match: { userAgent: "/(x)\\\\1/" } }\n  - { name: again, action: nope, match: {} }\n')
  await waitFor(async () => logs.find('policy reload failed; the previous policy stays in force').length >= 2 ? true : undefined, 5000, 'the failed reload')
  assert.equal(await curl(), 200, 'the previous policy stays in force')
  assert.ok(logs.find('policy reload failed; the previous policy stays in force').some(l => String(l.problem).startsWith(`${file}:2:43: rules.0.match:`)), JSON.stringify(logs.find('policy reload failed; the previous policy stays in force')))
  // Through the admin API, the same.
  const auth = { authorization: `Bearer ${ADMIN}` }
  const bad = await send(`${gateway.adminUrl}/api/policies/reload`, { method: 'POST', headers: auth })
  assert.equal(bad.status, 422)
  writeFileSync(file, BASE_POLICY)
  const good = await send(`${gateway.adminUrl}/api/policies/reload`, { method: 'POST', headers: auth })
  assert.equal(good.status, 200)
  assert.equal(await curl(), 403)
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_policy_reloads_total\{result="failure"\} [1-9]/)
  assert.match(metrics, /portcullis_policy_reloads_total\{result="success"\} [1-9]/)
})

test('a rule cannot be bypassed through the path or the query', async t => {
  const { gateway, exchange } = await setup(t)
  const variants = [
    '/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=O1&DeviceType=Outlook',
    '/microsoft-server-activesync?cmd=Sync&user=a&deviceid=O1&devicetype=Outlook',
    '/MICROSOFT-SERVER-ACTIVESYNC/?CMD=Sync&USER=a&DEVICEID=O1&DEVICETYPE=Outlook',
    '//Microsoft-Server-ActiveSync?Cmd=Sync&DeviceId=O1&DeviceType=Outlook',
    '/%4Dicrosoft-Server-ActiveSync?Cmd=Sync&DeviceId=O1&DeviceType=Outlook',
    '/ews/../Microsoft-Server-ActiveSync?Cmd=Sync&DeviceId=O1&DeviceType=Outlook',
    '/Microsoft-Server-ActiveSync?Cmd=Sync&DeviceId=O1&DeviceType=Outlook&DeviceType=Outlook',
    '/Microsoft-Server-ActiveSync?Cmd=Sync&%44eviceId=O1&DeviceType=Outlook'
  ]
  for (const path of variants) {
    const res = await send(gateway.url + path, { method: 'POST', body: 'x', headers: outlookHeaders() })
    assert.equal(res.status, 200, path)
    assert.match(libwbxml(res.body), /<Status>129<\/Status>/, path)
  }
  // Ambiguous requests are refused, not guessed.
  const ambiguous = await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=Sync&DeviceType=iPhone&devicetype=Outlook`, { method: 'POST', body: 'x', headers: outlookHeaders() })
  assert.equal(ambiguous.status, 400)
  assert.equal(exchange.received.length, 0)
})

test('a malformed base64 query or WBXML body gets 400 and the gateway lives on', async t => {
  const { gateway, exchange } = await setup(t)
  const headers = { authorization: BASIC, 'ms-asprotocolversion': '14.1' }
  assert.equal((await send(`${gateway.url}/Microsoft-Server-ActiveSync?jAAJBAp2MTQw`, { method: 'POST', body: 'x', headers: { authorization: BASIC } })).status, 400)
  assert.equal((await send(eas(gateway.url, 'Settings'), { method: 'POST', body: Buffer.from('03016a00001245ff', 'hex'), headers })).status, 400)
  assert.equal((await send(eas(gateway.url, 'Provision'), { method: 'POST', body: Buffer.from('0301', 'hex'), headers })).status, 400)
  assert.equal(exchange.received.length, 0)
  const ok = await send(eas(gateway.url, 'FolderSync'), { method: 'POST', body: 'x', headers })
  assert.equal(ok.status, 200)
})

test('an ActiveSync 451 redirect never points a device away from the gateway', async t => {
  const origin = new SimServer('redirecting', (_req, res) => { res.writeHead(451, { 'x-ms-location': 'https://exch02.corp.example/Microsoft-Server-ActiveSync?x=1', 'content-length': 0 }); res.end() })
  await origin.listen()
  closeAfter(t, origin)
  const { gateway } = await startTestGateway(t, { publicUrl: 'https://mobile.example.com', upstreams: { exchange: { servers: [origin.url] } }, services: { activesync: { upstream: 'exchange' } } })
  const res = await send(eas(gateway.url, 'FolderSync'), { method: 'POST', body: 'x', headers: { authorization: BASIC } })
  assert.equal(res.status, 451)
  assert.equal(res.headers['x-ms-location'], 'https://mobile.example.com/Microsoft-Server-ActiveSync?x=1')
})

test('two gateways sharing one Redis see the same quarantine and approval at once', async t => {
  const { url, client } = await startRedis(t)
  const store = { type: 'redis', redis: { url, keyPrefix: 'pc-test:' } }
  const a = await setup(t, BASE_POLICY, store)
  const b = await setup(t, BASE_POLICY, store)
  const headers = { authorization: BASIC, 'user-agent': 'NokiaMail/1.0', 'ms-asprotocolversion': '14.1' }
  assert.match(libwbxml((await send(eas(a.gateway.url, 'FolderSync', 'NOKIA9', 'Nokia'), { method: 'POST', body: 'x', headers })).body), /129/)
  const pending = JSON.parse((await send(`${b.gateway.adminUrl}/api/devices?state=quarantined`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.toString()).devices
  assert.equal(pending[0]?.deviceId, 'NOKIA9', 'gateway B lists the device gateway A quarantined')
  await send(`${b.gateway.adminUrl}/api/devices/NOKIA9/approve`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })
  assert.equal((await send(eas(a.gateway.url, 'FolderSync', 'NOKIA9', 'Nokia'), { method: 'POST', body: 'x', headers })).status, 200, 'approved on B, allowed on A')
  const keys = await client.keys('pc-test:*')
  assert.ok(keys.includes('pc-test:device:alice:nokia9'), 'one record per (account, DeviceId)')
  const dump = JSON.stringify(await Promise.all(keys.map(async (k): Promise<unknown> => await client.type(k) === 'string' ? await client.get(k) : await client.smembers(k))))
  assert.ok(!dump.includes('Secret-Pa55') && !dump.includes(BASIC.slice(6)), 'no credential in Redis')
  assert.equal((await send(`${a.gateway.adminUrl}/readyz`)).status, 200)
})

test('EWS rules see the SOAP operation, from SOAPAction or from the body', async t => {
  const { gateway, exchange } = await setup(t)
  const envelope = (op: string): string => `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:${op} xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>`
  const post = (body: string, headers: Record<string, string> = {}): Promise<number> => send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body, headers: { authorization: BASIC, 'content-type': 'text/xml', ...headers } }).then(r => r.status)
  assert.equal(await post(envelope('ExportItems')), 403)
  assert.equal(await post(envelope('GetFolder'), { soapaction: '"http://schemas.microsoft.com/exchange/services/2006/messages/ExportItems"' }), 400, 'a SOAPAction that disagrees with the body is refused')
  assert.equal(await post(envelope('ExportItems'), { soapaction: '"http://schemas.microsoft.com/exchange/services/2006/messages/ExportItems"' }), 403)
  assert.equal(await post(envelope('GetFolder')), 200)
  assert.equal(exchange.received.length, 1)
})

test('the policy file is read once at start: start runs the policy check validated, even if the file changed in between', { timeout: 30_000 }, async t => {
  const { loadConfig } = await import('../../gateway/config/load.js')
  const { startGateway } = await import('../../gateway/server/gateway.js')
  const { createLogger } = await import('../../gateway/observability/log.js')
  const { LogCapture } = await import('../helpers/gateway.js')
  const exchange = fakeExchange('exch-once', { users: { 'CORP\\alice': 'Secret-Pa55' } })
  await exchange.listen()
  closeAfter(t, exchange)
  const policy = policyFile('once.yaml', 'rules:\n  - { name: block-scripts, action: block, match: { userAgent: "curl/*" } }\n')
  const config = join(dir, 'once-config.yaml')
  writeFileSync(config, `publicUrl: https://mobile.example.com\nlisten: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nupstreams: { exchange: { servers: ["${exchange.url}"] } }\nservices: { activesync: { upstream: exchange } }\npolicies: ${policy}\n`)
  const loaded = loadConfig(config)
  writeFileSync(policy, 'rules: []\n') // changed after the check, before the start
  const gateway = await startGateway(loaded, createLogger('warn', new LogCapture()))
  t.after(() => gateway.stop())
  const res = await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=ONCE1&DeviceType=iPhone`, { method: 'POST', headers: { authorization: BASIC, 'user-agent': 'curl/8.5', 'ms-asprotocolversion': '14.1', host: 'mobile.example.com' }, body: Buffer.alloc(0) })
  assert.equal(res.status, 200, 'blocked the 14.1 way (Status 129) by the validated policy')
  assert.equal(exchange.received.filter(r => r.url.includes('ONCE1')).length, 0, 'never reached Exchange')
})
