// What the fuzzer feeds and what each parser may do with it: return, or throw its own error. Anything
// else (a TypeError, a RangeError from a stack overflow, an output larger than the limits) is a bug.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActiveSyncQueryError, parseActiveSyncRequest } from '../../gateway/protocols/activesync-request.js'
import { activesyncCommand } from '../../gateway/protocols/activesync-command.js'
import { AuthorizationError, parseAuthorization } from '../../gateway/protocols/authorization.js'
import { decodeWbxml, encodeWbxml, WBXML_LIMITS, WbxmlError, type WbxmlElement } from '../../gateway/protocols/wbxml/codec.js'
import { parseXml, soapOperation, XmlError } from '../../gateway/protocols/xml.js'
import { ResponseParseError, ResponseParser } from '../../gateway/upstream/http1/response-parser.js'
import { ConfigError } from '../../gateway/config/problems.js'
import { NotificationParseError, parseSendNotification } from '../../ens/send-notification.js'
import { loadPolicy } from '../../gateway/policy/load-policy.js'

export interface FuzzTarget {
  name: string
  seeds: Buffer[]
  /** Byte strings worth splicing in (tokens of the format). */
  interesting: Buffer[]
  /** Largest input generated. */
  maxBytes: number
  /** Runs one input; throws an Error describing the bug if the parser misbehaved. */
  run: (input: Buffer) => void
}

/** Runs `parse`; its own errors are fine, anything else is rethrown as a bug. */
function ownErrorsOnly (parse: () => void, ...allowed: Array<abstract new (...args: never[]) => Error>): void {
  try {
    parse()
  } catch (err) {
    if (allowed.some(type => err instanceof type)) return
    throw err
  }
}

const text = (items: string[]): Buffer[] => items.map(s => Buffer.from(s, 'latin1'))
const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/ews/${name}`, import.meta.url))

const WBXML_SEEDS: WbxmlElement[] = [
  { name: 'Settings:Settings', children: [{ name: 'Settings:DeviceInformation', children: [{ name: 'Settings:Set', children: [{ name: 'Settings:Model', text: 'SM-G930F' }, { name: 'Settings:OS', text: 'Android 8.0' }] }] }] },
  { name: 'Ping:Ping', children: [{ name: 'Ping:Status', text: '1' }] },
  { name: 'FolderHierarchy:FolderSync', children: [{ name: 'FolderHierarchy:SyncKey', text: '0' }] }
]

const wbxml: FuzzTarget = {
  name: 'WBXML decoder',
  seeds: [
    ...WBXML_SEEDS.map(encodeWbxml),
    Buffer.from('03016a00000e45001256485703534d2d4d3231354600015903534d2d4d3231354600015a03416e64726f696420313000016003416e64726f69642d4d61696c2f323032302e31312e32392e3334363138323130322e52656c6561736500010101000e464748034d532d4541532d50726f766973696f6e696e672d5742584d4c0001010101', 'hex'),
    Buffer.from('0301016a0541424300000012455648578300830083000101010101', 'hex') // a string table referenced thrice
  ],
  interesting: [Buffer.from([0x83, 0x00]), Buffer.from([0x00, 0x12]), Buffer.from([0xc3, 0x8f, 0xff, 0xff, 0x7f]), Buffer.from([0x40]), Buffer.from([0x01])],
  maxBytes: 65_536,
  run: input => ownErrorsOnly(() => {
    const root = decodeWbxml(input)
    let total = 0
    const walk = (el: WbxmlElement, depth: number): void => {
      if (depth > WBXML_LIMITS.maxDepth + 1) throw new Error('decoded deeper than the limit')
      total += Buffer.byteLength(el.text ?? '') + (el.opaque?.length ?? 0)
      for (const child of el.children ?? []) walk(child, depth + 1)
    }
    walk(root, 0)
    if (total > WBXML_LIMITS.maxDocumentBytes) throw new Error(`decoded ${total} bytes, more than the limit`)
  }, WbxmlError)
}

const activesyncQuery: FuzzTarget = {
  name: 'ActiveSync query (plain and base64)',
  seeds: text([
    'Cmd=Sync&User=alice&DeviceId=ApplF17XK2ABCD&DeviceType=iPhone',
    'User=CORP%5Calice&DeviceId=v140Device&DeviceType=SmartPhone&Cmd=FolderSync&SaveInSent=T',
    encodeURIComponent(Buffer.from([0xa1, 18, 0x09, 0x04, 16, ...Buffer.alloc(16, 7), 0, 6, ...Buffer.from('iPhone'), 8, 5, ...Buffer.from('alice')]).toString('base64')),
    Buffer.from([141, 0, 0x09, 0x04, 4, 0x41, 0x42, 0x43, 0x44, 4, 1, 0, 0, 0, 7, ...Buffer.from('Android')]).toString('base64')
  ]),
  interesting: text(['&', '=', '%', '%00', '%ZZ', '==', '+', '/', 'Cmd=', '&User=', '%3D']),
  maxBytes: 4096,
  run: input => {
    const query = input.toString('latin1')
    activesyncCommand(query) // the quick form used for timeouts never throws
    ownErrorsOnly(() => {
      const r = parseActiveSyncRequest(query, { 'ms-asprotocolversion': '14.1' })
      for (const value of [r.user, r.deviceId, r.deviceType]) if (value !== undefined && value.length > query.length * 2) throw new Error('a field longer than its input')
    }, ActiveSyncQueryError)
  }
}

const xml: FuzzTarget = {
  name: 'SOAP/XML parse (SendNotification, operations)',
  seeds: [fixture('send-notification-new-mail.xml'), fixture('send-notification-status-event.xml'), fixture('send-notification-error-read-events-failed.xml'), fixture('getitem-request-subject-from.xml'), fixture('getitem-response-subject-from.xml')],
  interesting: text(['<a>', '</a>', '<!--', '-->', '<![CDATA[', ']]>', '<!DOCTYPE x [<!ENTITY e "e">]>', '&e;', 'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"', '<s:Body>', '</s:Body>', '&#x0;', '\u0000']),
  maxBytes: 131_072,
  run: input => {
    const value = input.toString('utf8')
    ownErrorsOnly(() => { parseXml(value) }, XmlError)
    ownErrorsOnly(() => { soapOperation(value) }, XmlError)
    ownErrorsOnly(() => { parseSendNotification(value) }, NotificationParseError)
  }
}

const authorization: FuzzTarget = {
  name: 'Authorization parser',
  seeds: text([
    'Basic ' + Buffer.from('CORP\\alice:Secret').toString('base64'),
    'Bearer cwt=AAEBHAEFAAAAAAAFFQAAAPMk',
    'NTLM TlRMTVNTUAADAAAAGAAYAEAAAAAYABgAWAAAAAgACABwAAAACgAKAHgAAAAIAAgAggAAAAAAAAAAAAAABYKIogAAAAA=',
    'Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg==',
    'Digest username="a", realm="b"'
  ]),
  interesting: text([' ', '\t', '=', ':', '\u0000', 'TlRMTVNTUAAD', '//////', 'AAAA']),
  maxBytes: 20_000,
  run: input => {
    const header = input.toString('latin1')
    ownErrorsOnly(() => {
      const parsed = parseAuthorization(header)
      if (parsed.user !== undefined && parsed.user.length > header.length * 2) throw new Error('a user longer than its input')
    }, AuthorizationError)
  }
}

/** llhttp, Node's own HTTP parser: what a client of the gateway would make of an answer. */
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: LlhttpConstructor }
interface LlhttpParser { initialize: (type: number, resource: object) => void, execute: (data: Buffer) => number | Error, finish: () => undefined | Error, [key: number]: unknown }
interface LlhttpConstructor { new (): LlhttpParser, RESPONSE: number, kOnHeadersComplete: number, kOnBody: number, kOnMessageComplete: number }

function llhttp (input: Buffer): { status: number, body: Buffer } | undefined {
  const parser = new HTTPParser()
  parser.initialize(HTTPParser.RESPONSE, {})
  let status = 0
  let final = false
  const body: Buffer[] = []
  let complete = false
  parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, _headers: string[], _method: number, _url: string, code: number) => { status = code; final = code >= 200; return 0 }
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => { if (final) body.push(Buffer.from(chunk)) }
  parser[HTTPParser.kOnMessageComplete] = () => { if (final) complete = true }
  const result = parser.execute(input)
  if (result instanceof Error) return undefined
  if (!complete && parser.finish() instanceof Error) return undefined
  return complete ? { status, body: Buffer.concat(body) } : undefined
}

const responseParser: FuzzTarget = {
  name: 'HTTP/1.1 response parser (against llhttp)',
  seeds: text([
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: y\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 503 Service Unavailable\r\nServer: Microsoft-HTTPAPI/2.0\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbad',
    'HTTP/1.0 200 OK\r\n\r\nuntil close'
  ]),
  interesting: text(['\r\n', '\n', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', ' ', '\t', ':', '0\r\n\r\n', 'ffffffff\r\n', '\u0000', '\u007f']),
  maxBytes: 8192,
  run: input => {
    const ours = { status: 0, body: [] as Buffer[], ended: false }
    let refused = false
    try {
      const parser = new ResponseParser({ onHead: status => { ours.status = status }, onBody: chunk => { ours.body.push(Buffer.from(chunk)) }, onEnd: () => { ours.ended = true } })
      parser.reset(false)
      parser.feed(input)
      if (!ours.ended) parser.finish()
    } catch (err) {
      if (!(err instanceof ResponseParseError)) throw err
      refused = true
    }
    if (refused || !ours.ended) return
    // Whatever the gateway accepts and forwards, a client's parser must read the same way.
    const theirs = llhttp(input)
    if (!theirs) throw new Error(`accepted an answer llhttp refuses: ${JSON.stringify(input.toString('latin1').slice(0, 200))}`)
    if (theirs.status !== ours.status || !theirs.body.equals(Buffer.concat(ours.body))) throw new Error(`read differently from llhttp: ${JSON.stringify(input.toString('latin1').slice(0, 200))}`)
  }
}

const policyDir = mkdtempSync(join(tmpdir(), 'portcullis-fuzz-policy-'))
const policyFile = join(policyDir, 'policy.yaml')

const policyLoader: FuzzTarget = {
  name: 'policy file loader',
  seeds: text([
    'default: allow\nrules:\n  - name: block-outlook\n    action: block\n    match: { protocol: activesync, userAgent: "Outlook-iOS-Android/*", authScheme: basic }\n',
    'rules:\n  - { name: q, action: quarantine, match: { deviceType: "/^android/i", not: { deviceModel: ["SM-S9*", "Pixel *"] } } }\n  - { name: ip, action: block, match: { clientIp: [10.0.0.0/8, "2001:db8::/32"] } }\n',
    'x: &a { userAgent: x }\nrules:\n  - { name: a, action: block, match: *a }\n'
  ]),
  interesting: text(['&a ', '*a', '[', ']', '{', '}', ': ', '- ', '"/(a+)+$/"', '!!binary', '<<: *a', '\n  ', '#', '\'']),
  maxBytes: 16_384,
  run: input => {
    writeFileSync(policyFile, input)
    ownErrorsOnly(() => { loadPolicy(policyFile) }, ConfigError)
  }
}

export const TARGETS: FuzzTarget[] = [wbxml, activesyncQuery, xml, authorization, responseParser, policyLoader]
