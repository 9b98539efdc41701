import type { IncomingMessage, ServerResponse } from 'node:http'
import { activesyncCommand } from '../protocols/activesync-command.js'
import { encodeWbxml, type WbxmlElement } from '../protocols/wbxml/codec.js'
import { FakeEws } from './fake-ews.js'
import { sendJson as json, SimServer } from './sim-server.js'

export interface FakeExchangeOptions {
  /** How long a Ping is held before "no changes" (the real server holds up to HeartbeatInterval). */
  pingHoldMs?: number
  /** Serve HTTPS with this certificate (tests of upstream TLS verification). */
  tls?: { cert: string, key: string }
  /**
   * Basic users and their passwords: a wrong password gets 401, as IIS answers it. Absent: any
   * credentials are accepted (tests that are not about authentication).
   */
  users?: Record<string, string>
  /**
   * Behave like a domain controller behind IIS: count bad passwords per account (`badPwdCount`, reset by
   * a success or after the observation window) and lock the account at the threshold: while locked,
   * every request of it gets 401, the right password included.
   */
  directory?: { lockoutThreshold: number, observationWindowMs: number, lockoutMs: number }
}

/** What a simulated domain controller saw of one account. */
export interface DirectoryAccount { badPwdCount: number, maxBadPwdCount: number, lastBadAt: number, lockedUntil: number, lockouts: number, failures: number }

/**
 * A simulated Exchange front end: ActiveSync (OPTIONS with the MS-AS headers, WBXML FolderSync, held
 * Ping), EWS and POX Autodiscover, each answering 401 without credentials as IIS does.
 */
export function fakeExchange (name: string, options: FakeExchangeOptions = {}): SimServer & { newMail: () => number, ews: FakeEws, directory: Map<string, DirectoryAccount> } {
  const fakeEws = new FakeEws()
  const directory = new Map<string, DirectoryAccount>()
  const pingHoldMs = options.pingHoldMs ?? 60_000
  const waitingPings = new Set<() => void>()
  const sim = new SimServer(name, (req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname.toLowerCase()
    if (path === '/microsoft-server-activesync/healthcheck.htm') return text(res, 200, '200 OK')
    if (!req.headers.authorization || !credentialsAccepted(req.headers.authorization, options.users, options.directory && { ...options.directory, accounts: directory })) return unauthorized(res)
    if (path.startsWith('/ews/')) return fakeEws.handle(req, res, body)
    if (path.startsWith('/microsoft-server-activesync')) return activesync(req, res, url.search.slice(1))
    if (path.startsWith('/autodiscover/autodiscover.xml')) return autodiscover(req, res)
    if (path.startsWith('/autodiscover/autodiscover.json')) return json(res, 200, { Protocol: 'ActiveSync', Url: `https://${req.headers.host ?? 'mail'}/Microsoft-Server-ActiveSync` })
    text(res, 404, 'Not Found')
  }, options.tls)

  function activesync (req: IncomingMessage, res: ServerResponse, query: string): void {
    if (req.method === 'OPTIONS') {
      res.writeHead(200, {
        allow: 'OPTIONS,POST',
        'ms-server-activesync': '15.1',
        'ms-asprotocolversions': '2.0,2.1,2.5,12.0,12.1,14.0,14.1,16.0,16.1',
        'ms-asprotocolcommands': 'Sync,SendMail,SmartForward,SmartReply,GetAttachment,GetHierarchy,CreateCollection,DeleteCollection,MoveCollection,FolderSync,FolderCreate,FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search,Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert,Find',
        public: 'OPTIONS,POST',
        'content-length': 0
      })
      res.end()
      return
    }
    const command = activesyncCommand(query)
    if (command === 'FolderSync') return wbxml(res, FOLDER_SYNC)
    if (command === 'Ping') {
      sim.hold(res)
      const done = (status: string): void => {
        clearTimeout(timer)
        waitingPings.delete(changed)
        if (!res.destroyed) wbxml(res, { name: 'Ping:Ping', children: [{ name: 'Ping:Status', text: status }] })
      }
      const changed = (): void => done('2')
      const timer = setTimeout(() => done('1'), pingHoldMs)
      waitingPings.add(changed)
      res.on('close', () => { clearTimeout(timer); waitingPings.delete(changed) })
      return
    }
    // Other commands: an empty 200, as Exchange answers a Sync with no changes.
    res.writeHead(200, { 'content-length': 0, 'ms-server-activesync': '15.1' })
    res.end()
  }

  return Object.assign(sim, {
    ews: fakeEws,
    /** The simulated domain controller's accounts (with `directory`): bad-password counts, lockouts. */
    directory,
    /** "Delivers" a mail: every held Ping answers Status 2 (changes). Returns how many were woken. */
    newMail: (): number => {
      const n = waitingPings.size
      for (const wake of [...waitingPings]) wake()
      return n
    }
  })
}

const FOLDER_SYNC: WbxmlElement = {
  name: 'FolderHierarchy:FolderSync',
  children: [
    { name: 'FolderHierarchy:Status', text: '1' },
    { name: 'FolderHierarchy:SyncKey', text: '1' },
    {
      name: 'FolderHierarchy:Changes',
      children: [
        { name: 'FolderHierarchy:Count', text: '2' },
        folder('1', 'Inbox', '2'),
        folder('2', 'Sent Items', '5')
      ]
    }
  ]
}

function folder (id: string, displayName: string, type: string): WbxmlElement {
  return {
    name: 'FolderHierarchy:Add',
    children: [
      { name: 'FolderHierarchy:ServerId', text: id },
      { name: 'FolderHierarchy:ParentId', text: '0' },
      { name: 'FolderHierarchy:DisplayName', text: displayName },
      { name: 'FolderHierarchy:Type', text: type }
    ]
  }
}

/**
 * Basic credentials are checked against `users` when given; other schemes are taken as they come. With
 * a directory, bad passwords count per account (the name before `@` or after `\`, lower-case) and lock it.
 */
function credentialsAccepted (authorization: string, users: Record<string, string> | undefined, directory?: FakeExchangeOptions['directory'] & { accounts: Map<string, DirectoryAccount> }): boolean {
  if (!users || !/^basic /i.test(authorization)) return true
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon === -1 ? decoded : decoded.slice(0, colon)
  if (!directory) return colon !== -1 && users[user] === decoded.slice(colon + 1)
  // A directory knows an account by every form of its name (`alice`, `CORP\\alice`, `alice@corp.example`).
  const name = user.toLowerCase().replace(/^.*\\/, '').replace(/@.*$/, '')
  const expected = users[user] ?? users[name]
  const right = colon !== -1 && expected !== undefined && expected === decoded.slice(colon + 1)
  let account = directory.accounts.get(name)
  if (!account) directory.accounts.set(name, account = { badPwdCount: 0, maxBadPwdCount: 0, lastBadAt: 0, lockedUntil: 0, lockouts: 0, failures: 0 })
  const now = Date.now()
  if (now < account.lockedUntil) return false
  if (right) {
    account.badPwdCount = 0
    return true
  }
  account.failures++
  if (now - account.lastBadAt > directory.observationWindowMs) account.badPwdCount = 0
  account.badPwdCount++
  account.maxBadPwdCount = Math.max(account.maxBadPwdCount, account.badPwdCount)
  account.lastBadAt = now
  if (account.badPwdCount >= directory.lockoutThreshold) {
    account.lockedUntil = now + directory.lockoutMs
    account.lockouts++
  }
  return false
}

function unauthorized (res: ServerResponse): void {
  res.writeHead(401, { 'www-authenticate': ['Negotiate', 'NTLM', 'Basic realm="mail.example.com"'], server: 'Microsoft-IIS/10.0', 'content-type': 'text/html', 'content-length': 0 })
  res.end()
}

function wbxml (res: ServerResponse, root: WbxmlElement): void {
  const body = encodeWbxml(root)
  res.writeHead(200, { 'content-type': 'application/vnd.ms-sync.wbxml', 'ms-server-activesync': '15.1', 'content-length': body.length })
  res.end(body)
}

function autodiscover (req: IncomingMessage, res: ServerResponse): void {
  const host = req.headers.host ?? 'mail.example.com'
  const xml = '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">' +
    '<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"><Culture>en:us</Culture>' +
    `<Action><Settings><Server><Type>MobileSync</Type><Url>https://${host}/Microsoft-Server-ActiveSync</Url><Name>https://${host}/Microsoft-Server-ActiveSync</Name></Server></Settings></Action></Response></Autodiscover>`
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(xml) })
  res.end(xml)
}

function text (res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
