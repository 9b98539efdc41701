import type { IncomingHttpHeaders } from 'node:http'
import { GatewayError } from '../errors/catalogue.js'

/** What MS-ASHTTP tells about an ActiveSync request, from either query form (2.2.1.1.1). */
export interface ActiveSyncRequest {
  command: string | undefined
  user: string | undefined
  /** Canonical: the string when every byte is printable ASCII, else lower-case hex (as Exchange shows binary ids). */
  deviceId: string | undefined
  deviceType: string | undefined
  /** e.g. "14.1"; from the MS-ASProtocolVersion header or the binary query. */
  version: string | undefined
  policyKey: string | undefined
}

export class ActiveSyncQueryError extends GatewayError {
  constructor (message: string) { super('GW_PROTOCOL_ACTIVESYNC_QUERY', message) }
}

/** Command codes of the binary query (MS-ASHTTP 2.2.1.1.1.1.2). */
export const COMMAND_CODES: Record<number, string> = {
  0: 'Sync', 1: 'SendMail', 2: 'SmartForward', 3: 'SmartReply', 4: 'GetAttachment', 9: 'FolderSync', 10: 'FolderCreate', 11: 'FolderDelete', 12: 'FolderUpdate', 13: 'MoveItems', 14: 'GetItemEstimate', 15: 'MeetingResponse', 16: 'Search', 17: 'Settings', 18: 'Ping', 19: 'ItemOperations', 20: 'Provision', 21: 'ResolveRecipients', 22: 'ValidateCert'
}
/** Every command name MS-ASCMD knows, by its lower-case form: `Cmd=settings` is the Settings command. */
const COMMAND_NAMES = new Map([...Object.values(COMMAND_CODES), 'GetHierarchy', 'CreateCollection', 'DeleteCollection', 'MoveCollection', 'Find', 'Notify'].map(name => [name.toLowerCase(), name]))

/** A command name as MS-ASCMD spells it (Exchange compares them case-insensitively); unknown ones as given. */
export function canonicalCommand (name: string): string {
  return COMMAND_NAMES.get(name.toLowerCase()) ?? name
}

const PLAIN_NAMES = new Map(['cmd', 'user', 'deviceid', 'devicetype', 'attachmentname', 'collectionid', 'itemid', 'longid', 'occurrence', 'saveinsent', 'parentid', 'collectionname'].map(n => [n, n]))

/**
 * Parses the query of an ActiveSync request. Refuses (throws) rather than guesses: a parameter given
 * twice with different values (which one would Exchange use?), malformed base64 or a binary query
 * whose lengths run past its end.
 */
export function parseActiveSyncRequest (query: string, headers: IncomingHttpHeaders): ActiveSyncRequest {
  const headerVersion = single(headers['ms-asprotocolversion'])
  if (query === '') return { command: undefined, user: undefined, deviceId: undefined, deviceType: undefined, version: headerVersion, policyKey: single(headers['x-ms-policykey']) }
  return isPlainQuery(query) ? parsePlain(query, headers, headerVersion) : parseBase64(query, headerVersion)
}

function parsePlain (query: string, headers: IncomingHttpHeaders, version: string | undefined): ActiveSyncRequest {
  const values = new Map<string, string>()
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    let name: string
    let value: string
    try {
      name = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase()
      value = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '))
    } catch {
      throw new ActiveSyncQueryError('malformed percent-encoding in the query')
    }
    const known = PLAIN_NAMES.get(name)
    if (!known) continue
    const earlier = values.get(known)
    if (earlier !== undefined && earlier.toLowerCase() !== value.toLowerCase()) throw new ActiveSyncQueryError(`query parameter ${name} given twice with different values`)
    values.set(known, value)
  }
  const command = values.get('cmd')
  return {
    command: command === undefined ? undefined : canonicalCommand(command),
    user: values.get('user'),
    deviceId: values.get('deviceid'),
    deviceType: values.get('devicetype'),
    version,
    policyKey: single(headers['x-ms-policykey'])
  }
}

function parseBase64 (query: string, headerVersion: string | undefined): ActiveSyncRequest {
  let text: string
  try {
    text = decodeURIComponent(query)
  } catch {
    throw new ActiveSyncQueryError('malformed percent-encoding in the query')
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) throw new ActiveSyncQueryError('the query is neither name=value pairs nor base64')
  const b = Buffer.from(text, 'base64')
  let pos = 0
  const byte = (): number => {
    if (pos >= b.length) throw new ActiveSyncQueryError('binary query ends early')
    return b[pos++] as number
  }
  const bytes = (n: number): Buffer => {
    if (pos + n > b.length) throw new ActiveSyncQueryError('binary query ends early')
    const out = b.subarray(pos, pos + n)
    pos += n
    return out
  }
  const versionByte = byte()
  const commandCode = byte()
  bytes(2) // locale
  const deviceIdRaw = bytes(byte())
  const policyKeyLength = byte()
  if (policyKeyLength !== 0 && policyKeyLength !== 4) throw new ActiveSyncQueryError('policy key length must be 0 or 4')
  const policyKey = policyKeyLength === 4 ? String(bytes(4).readUInt32LE(0)) : undefined
  const deviceType = bytes(byte()).toString('latin1')
  let user: string | undefined
  while (pos < b.length) {
    const tag = byte()
    const value = bytes(byte())
    if (tag === 8) {
      const name = value.toString('utf8')
      if (user !== undefined && user !== name) throw new ActiveSyncQueryError('User given twice with different values')
      user = name
    }
  }
  const command = COMMAND_CODES[commandCode]
  if (command === undefined) throw new ActiveSyncQueryError(`unknown command code ${commandCode}`)
  const version = (versionByte / 10).toFixed(1)
  if (headerVersion !== undefined && headerVersion !== version) throw new ActiveSyncQueryError('MS-ASProtocolVersion disagrees with the binary query')
  return { command, user, deviceId: canonicalDeviceId(deviceIdRaw), deviceType: deviceType || undefined, version, policyKey }
}

/** Base64 has '=' only as trailing padding; the plain form always has name=value pairs. */
export function isPlainQuery (query: string): boolean {
  return /[&=]/.test(query.replace(/(?:=|%3D)+$/i, ''))
}

/** DeviceId as Exchange shows it: printable ASCII as is, binary (a 16-byte GUID) as lower-case hex. */
export function canonicalDeviceId (raw: Buffer): string | undefined {
  if (raw.length === 0) return undefined
  for (const c of raw) if (c < 0x21 || c > 0x7e) return raw.toString('hex')
  return raw.toString('latin1')
}

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** ActiveSync protocol versions from 14.0 carry the common status codes (MS-ASCMD 2.2.2). */
export function supportsCommonStatus (version: string | undefined): boolean {
  return version !== undefined && Number.parseFloat(version) >= 14
}
