// Regression tests for the EWS, UCWA and connection findings of the security review (issue 10, items 14, 16, 18, 19, 25).
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { Client } from 'undici'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { fakeSkypeFrontEnd } from '../../gateway/lab/fake-skype.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sec-ews-'))
const BASIC = 'Basic ' + Buffer.from('CORP\\alice:Alice-Pa55').toString('base64')
const POLICY = `rules:
  - { name: no-export, action: block, match: { protocol: ews, command: ExportItems } }
  - { name: no-ntlm-finditem, action: block, match: { protocol: ews, authScheme: ntlm, command: FindItem } }
  - { name: no-mallory, action: block, match: { user: mallory } }
  - { name: no-ucwa-scripts, action: block, match: { protocol: ucwa, userAgent: "curl/*" } }
  - { name: no-bad-network, action: block, match: { protocol: ews, clientIp: 203.0.113.0/24 } }
`
const M = 'http://schemas.microsoft.com/exchange/services/2006/messages'
const envelope = (body: string, header = ''): string => `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="${M}"><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`

async function setup (t: TestContext, listen: Record<string, unknown> = {}): Promise<Awaited<ReturnType<typeof startTestGateway>> & { exchange: ReturnType<typeof fakeExchange>, skype: ReturnType<typeof fakeSkypeFrontEnd> }> {
  const exchange = fakeExchange('exch', { pingHoldMs: 100 })
  const skype = fakeSkypeFrontEnd('fe01')
  await Promise.all([exchange.listen(), skype.listen()])
  closeAfter(t, exchange, skype)
  const file = join(dir, `policy-${Math.random()}.yaml`)
  writeFileSync(file, POLICY)
  const started = await startTestGateway(t, {
    listen: { host: '127.0.0.1', port: 0, ...listen },
    upstreams: { exchange: { servers: [exchange.url] }, skype: { servers: [skype.url] } },
    services: { ews: { upstream: 'exchange' }, ucwa: { upstream: 'skype' } },
    policies: file
  })
  return { ...started, exchange, skype }
}

const ews = (gw: string, body: string, headers: Record<string, string> = {}): Promise<number> =>
  send(`${gw}/EWS/Exchange.asmx`, { method: 'POST', body, headers: { authorization: BASIC, 'content-type': 'text/xml', ...headers } }).then(r => r.status)
const posts = (server: { received: Array<{ method: string }> }): number => server.received.filter(r => r.method === 'POST').length

test('EWS command rules decide on the operation Exchange will run, whatever surrounds it', async t => {
  const { gateway, exchange } = await setup(t)
  const blocked: Array<[string, string, Record<string, string>?]> = [
    ['plain', envelope('<m:ExportItems/>')],
    ['an XML comment before it', envelope('<!-- <m:GetFolder/> --><m:ExportItems/>')],
    ['a SOAP header over 8 KiB', envelope('<m:ExportItems/>', `<x:Pad xmlns:x="urn:pad">${'p'.repeat(9000)}</x:Pad>`)],
    ['a decoy Body inside the header', envelope('<m:ExportItems/>', '<s:Body><m:GetFolder/></s:Body>')],
    ['a body over 64 KiB', envelope(`<m:ExportItems><m:ItemIds>${'<t:ItemId xmlns:t="urn:t" Id="x"/>'.repeat(3000)}</m:ItemIds></m:ExportItems>`)],
    ['other namespace prefixes', `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ExportItems xmlns="${M}"/></soap:Body></soap:Envelope>`],
    ['SOAP 1.2', `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><m:ExportItems xmlns:m="${M}"/></e:Body></e:Envelope>`]
  ]
  for (const [name, body] of blocked) assert.equal(await ews(gateway.url, body), 403, name)
  const refused: Array<[string, string, Record<string, string>]> = [
    ['a SOAPAction naming another operation', envelope('<m:ExportItems/>'), { soapaction: `"${M}/GetFolder"` }],
    ['two operations in the Body', envelope('<m:GetFolder/><m:ExportItems/>'), {}],
    ['not a SOAP envelope', '<x/>', {}],
    ['not well-formed', envelope('<m:ExportItems>'), {}],
    ['a DOCTYPE', '<!DOCTYPE s [<!ENTITY e "x">]>' + envelope('<m:GetFolder/>'), {}],
    ['UTF-16 the gateway would misread', Buffer.from('\ufeff' + envelope('<m:ExportItems/>'), 'utf16le').toString('latin1'), {}]
  ]
  for (const [name, body, headers] of refused) assert.equal(await ews(gateway.url, body, headers), 400, name)
  const tooLarge = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: envelope(`<m:GetFolder>${'x'.repeat(1_100_000)}</m:GetFolder>`), headers: { authorization: BASIC, 'content-type': 'text/xml' } })
  assert.equal(tooLarge.status, 413, 'too large to inspect while a rule reads command')
  assert.equal(posts(exchange), 0, 'nothing reached Exchange')
  assert.equal(await ews(gateway.url, envelope('<m:GetFolder/>'), { soapaction: `"${M}/GetFolder"` }), 200)
})

/** An NTLM AUTHENTICATE (type 3) message for DOMAIN\user, Unicode, with empty responses. */
function ntlmAuthenticate (domain: string, user: string): string {
  const d = Buffer.from(domain, 'utf16le')
  const u = Buffer.from(user, 'utf16le')
  const head = Buffer.alloc(64)
  head.write('NTLMSSP\0', 0, 'latin1')
  head.writeUInt32LE(3, 8)
  const field = (at: number, length: number, offset: number): void => { head.writeUInt16LE(length, at); head.writeUInt16LE(length, at + 2); head.writeUInt32LE(offset, at + 4) }
  field(12, 0, 64); field(20, 0, 64); field(28, d.length, 64); field(36, u.length, 64 + d.length); field(44, 0, 64 + d.length + u.length); field(52, 0, 64 + d.length + u.length)
  head.writeUInt32LE(0x00000001 | 0x00000200, 60) // UNICODE | NTLM
  return 'NTLM ' + Buffer.concat([head, d, u]).toString('base64')
}

test('NTLM connections: pins per upstream pool, later requests ride on the authentication, user rules see NTLM users', async t => {
  const { gateway, exchange, skype } = await setup(t)
  const client = new Client(gateway.url, { pipelining: 1, connections: 1 } as ConstructorParameters<typeof Client>[1])
  t.after(() => client.close())
  const on = async (path: string, body: string, headers: Record<string, string>): Promise<number> => {
    const res = await client.request({ path, method: 'POST', body, headers: { 'content-type': 'text/xml', ...headers } })
    await res.body.dump()
    return res.statusCode
  }
  assert.equal(await on('/EWS/Exchange.asmx', envelope('<m:GetFolder/>'), { authorization: ntlmAuthenticate('CORP', 'alice') }), 200)
  // (b) The same connection without Authorization is still alice over NTLM: the NTLM rule applies.
  assert.equal(await on('/EWS/Exchange.asmx', envelope('<m:FindItem/>'), {}), 403)
  // (a) A UCWA request on the connection that authenticated to Exchange goes to the Skype pool.
  assert.equal(await on('/ucwa/oauth/v1/applications', '{"UserAgent":"UCWA Samples","EndpointId":"1"}', { 'content-type': 'application/json', authorization: 'Bearer cwt=abc' }), 201)
  assert.equal(posts(skype), 1)
  assert.equal(exchange.received.filter(r => r.url.startsWith('/ucwa')).length, 0, 'no UCWA request reached Exchange')
  // (c) The user of an NTLM AUTHENTICATE message is what user rules see.
  const other = new Client(gateway.url, { pipelining: 1 } as ConstructorParameters<typeof Client>[1])
  t.after(() => other.close())
  const mallory = await other.request({ path: '/EWS/Exchange.asmx', method: 'POST', body: envelope('<m:GetFolder/>'), headers: { 'content-type': 'text/xml', authorization: ntlmAuthenticate('CORP', 'mallory') } })
  await mallory.body.dump()
  assert.equal(mallory.statusCode, 403)
})

test('UCWA user-agent rules see every user agent the request carries', async t => {
  const { gateway, skype } = await setup(t)
  const create = async (path: string, body: string, headers: Record<string, string> = {}): Promise<number> =>
    (await send(`${gateway.url}${path}`, { method: 'POST', body, headers: { authorization: 'Bearer cwt=abc', 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0', ...headers } })).status
  const apps = '/ucwa/oauth/v1/applications'
  assert.equal(await create(apps, '{"UserAgent":"curl/8.4","EndpointId":"1"}'), 403)
  assert.equal(await create(apps, '{"useragent":"curl/8.4","EndpointId":"1"}'), 403, 'keys compared case-insensitively')
  assert.equal(await create(apps + '/', '{"userAgent":"curl/8.4","EndpointId":"1"}'), 403, 'a trailing slash')
  assert.equal(await create(apps, '{"UserAgent":"UCWA Samples","EndpointId":"1"}', { 'user-agent': 'curl/8.4' }), 403, 'the header\'s user agent counts too')
  assert.equal(await create(apps, '{"UserAgent":"UCWA Samples","userAgent":"curl/8.4","EndpointId":"1"}'), 400, 'two spellings that disagree')
  const xml = '<input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><property name="culture">en-US</property><property name="endpointId">1</property><property name="userAgent">curl/8.4</property></input>'
  assert.equal(await create(apps, xml, { 'content-type': 'application/vnd.microsoft.com.ucwa+xml' }), 403, 'an XML application body')
  assert.equal(posts(skype), 0)
  assert.equal(await create(apps, '{"UserAgent":"UCWA Samples","EndpointId":"1"}'), 201)
})

test('clientIp rules and logs use the client behind a trusted proxy: the right-most untrusted X-Forwarded-For address', async t => {
  const trusted = await setup(t, { trustedProxies: ['127.0.0.1/32', '10.0.0.0/8'] })
  const via = (xff: string): Promise<number> => ews(trusted.gateway.url, envelope('<m:GetFolder/>'), { 'x-forwarded-for': xff })
  assert.equal(await via('203.0.113.9'), 403)
  assert.equal(await via('198.51.100.1, 203.0.113.9, 10.1.2.3'), 403, 'trusted hops are skipped')
  assert.equal(await via('203.0.113.9, 198.51.100.1'), 200, 'what the client wrote left of the first untrusted hop proves nothing')
  assert.ok(trusted.logs.lines.some(l => l.client === '203.0.113.9'), 'the log line names the client')
  const direct = await setup(t)
  assert.equal(await ews(direct.gateway.url, envelope('<m:GetFolder/>'), { 'x-forwarded-for': '203.0.113.9' }), 200, 'an untrusted peer\'s X-Forwarded-For is ignored')
})

test('client-sent address and URL headers never reach Exchange', async t => {
  const { gateway, exchange } = await setup(t)
  const headers = { forwarded: 'for=1.2.3.4', 'x-real-ip': '1.2.3.4', 'x-client-ip': '1.2.3.4', 'x-original-url': '/ecp/', 'x-rewrite-url': '/ecp/', 'true-client-ip': '1.2.3.4' }
  assert.equal(await ews(gateway.url, envelope('<m:GetFolder/>'), headers), 200)
  const seen = exchange.received.at(-1)!.headers
  for (const name of Object.keys(headers)) assert.equal(seen[name], undefined, name)
  assert.equal(seen['x-forwarded-for'], '127.0.0.1')
})
