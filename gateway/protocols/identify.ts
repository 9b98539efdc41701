import type { IncomingHttpHeaders } from 'node:http'
import { GatewayError } from '../errors/catalogue.js'
import type { RoutedService } from '../routing/services.js'
import { parseActiveSyncRequest, type ActiveSyncRequest } from './activesync-request.js'
import { parseAuthorization, type Authorization } from './authorization.js'
import { decodeWbxml, type WbxmlElement } from './wbxml/codec.js'
import { parseXml, soapOperation, XmlError, type XmlElement } from './xml.js'
import type { ClientIdentity } from '../../policies/identity.js'
import type { DeviceInformation } from '../store/device-inventory.js'

export interface Identified {
  identity: ClientIdentity
  authorization: Authorization
  activesync?: ActiveSyncRequest
  deviceInformation?: DeviceInformation
  /** Another user agent the request carries (a UCWA body's UserAgent): the policy decides on both. */
  otherUserAgent?: string
}

/** Input the gateway refuses to guess about: the caller answers 400 with the message. */
export class IdentityError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) { super('GW_PROTOCOL_IDENTITY', message, options) }
}

/** The request as identification reads it: the line and headers the gateway decided on, nothing live. */
export interface RequestFacts {
  readonly method: string | undefined
  /** Canonical path (what routing decided on) and raw query. */
  readonly path: string
  readonly query: string
  readonly headers: IncomingHttpHeaders
  /** The client's address as the gateway decided it (listen.trustedProxies applied). */
  readonly clientIp: string
  /** The body when it was read whole; undefined when it streams (no rule needs it). */
  readonly body: Buffer | undefined
}

/**
 * Longest accepted values. DeviceId is at most 32 characters (MS-ASHTTP); DeviceType and the user are
 * keys of the inventory, so longer ones are refused rather than cut (two devices must not become one).
 * Descriptive fields are cut: they only inform rules.
 */
export const IDENTITY_LIMITS = { deviceId: 32, deviceType: 64, user: 256, userAgent: 512, deviceInformation: 256 } as const

/** C0 controls and DEL: never part of a real identity, and a way to confuse logs and caches. */
const CONTROL = /[\u0000-\u001f\u007f]/ // eslint-disable-line no-control-regex

/** The UCWA create-application resource, with or without a trailing slash. */
export const UCWA_APPLICATIONS = /\/applications\/?$/i

/** Commands whose body carries DeviceInformation: read whole before the policy decides. */
export const DEVICE_INFORMATION_COMMANDS: ReadonlySet<string> = new Set(['Settings', 'Provision'])

/**
 * Who is asking, from the request line, headers and (buffered) body. Pure: no I/O, no store, nothing
 * of the server. Throws a GW_PROTOCOL_* error (the parsers' own, or IdentityError) on input the gateway
 * refuses to guess about (ambiguous query, malformed WBXML or SOAP, control characters, over-long
 * keys): the caller answers 400.
 */
export function identify (service: RoutedService, request: RequestFacts): Identified {
  const { headers, path, body: data } = request
  const authorization = parseAuthorization(headers.authorization)
  const identity: ClientIdentity = {
    protocol: service,
    userAgent: cut(headers['user-agent'], IDENTITY_LIMITS.userAgent),
    method: request.method,
    path,
    clientIp: request.clientIp,
    authScheme: authorization.scheme,
    user: authorization.user,
    headers
  }
  const result: Identified = { identity, authorization }
  if (service === 'activesync') {
    const as = parseActiveSyncRequest(request.query, headers)
    identity.command = as.command
    identity.deviceId = as.deviceId
    identity.deviceType = as.deviceType
    identity.user ??= as.user // Authorization is authoritative; the query's User is what the client claims
    result.activesync = as
    if (data && as.command !== undefined && DEVICE_INFORMATION_COMMANDS.has(as.command)) {
      const info = deviceInformation(decodeWbxml(data))
      if (info) {
        result.deviceInformation = info
        identity.deviceModel = info.model
        identity.deviceOS = info.os
      }
    }
  } else if (service === 'ews') {
    identity.command = ewsOperation(headers.soapaction, data)
  } else if (service === 'ucwa' && data && request.method === 'POST' && UCWA_APPLICATIONS.test(path)) {
    const ua = ucwaApplicationUserAgent(data, headers['content-type'])
    if (ua !== undefined && ua !== identity.userAgent) result.otherUserAgent = ua.slice(0, IDENTITY_LIMITS.userAgent)
  }
  checkFields(identity, result)
  return result
}

function checkFields (identity: ClientIdentity, result: Identified): void {
  for (const [field, max] of [['deviceId', IDENTITY_LIMITS.deviceId], ['deviceType', IDENTITY_LIMITS.deviceType], ['user', IDENTITY_LIMITS.user]] as const) {
    const value = identity[field]
    if (value !== undefined && value.length > max) throw new IdentityError(`${field} longer than ${max} characters`)
  }
  const values = [identity.userAgent, identity.user, identity.deviceId, identity.deviceType, identity.command, result.otherUserAgent, result.activesync?.user, ...Object.values(result.deviceInformation ?? {})]
  for (const value of values) if (value !== undefined && CONTROL.test(value)) throw new IdentityError('control characters in an identity field')
}

function cut (value: string | undefined, max: number): string | undefined {
  return value !== undefined && value.length > max ? value.slice(0, max) : value
}

const DEVICE_INFORMATION_FIELDS: ReadonlyArray<[keyof DeviceInformation, string]> = [
  ['model', 'Settings:Model'], ['os', 'Settings:OS'], ['friendlyName', 'Settings:FriendlyName'], ['imei', 'Settings:IMEI'],
  ['osLanguage', 'Settings:OSLanguage'], ['phoneNumber', 'Settings:PhoneNumber'], ['userAgent', 'Settings:UserAgent'], ['mobileOperator', 'Settings:MobileOperator']
]

/**
 * DeviceInformation of a Settings or Provision request. Exactly one DeviceInformation element, each
 * field at most once: with two `Model`s the gateway would decide on one and Exchange might store the other.
 */
function deviceInformation (root: WbxmlElement): DeviceInformation | undefined {
  const found: WbxmlElement[] = []
  collect(root, 'Settings:DeviceInformation', found)
  if (found.length > 1) throw new IdentityError('more than one DeviceInformation element')
  const info = found[0]
  if (!info) return undefined
  const result: DeviceInformation = {}
  for (const [key, name] of DEVICE_INFORMATION_FIELDS) {
    const elements: WbxmlElement[] = []
    collect(info, name, elements)
    if (elements.length > 1) throw new IdentityError(`more than one ${name.slice(9)} element`)
    const text = elements[0]?.text
    if (text !== undefined) result[key] = cut(text, IDENTITY_LIMITS.deviceInformation)
  }
  return result
}

/** Every element named `name` below `el` (depth is bounded by the decoder). */
function collect (el: WbxmlElement, name: string, into: WbxmlElement[]): void {
  for (const child of el.children ?? []) {
    if (child.name === name) into.push(child)
    collect(child, name, into)
  }
}

/**
 * The EWS operation: the element inside the SOAP Body, from a bounded namespace-aware parse; a
 * SOAPAction that names another operation is refused. Without a body (GET, or a body the gateway did
 * not read because no rule needs it), SOAPAction's last segment, for the log.
 */
function ewsOperation (header: string | string[] | undefined, body: Buffer | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header
  const action = value ? value.replace(/"/g, '').split('/').pop() || undefined : undefined
  if (!body) return action
  let operation: string
  try {
    operation = soapOperation(body.toString('utf8'))
  } catch (err) {
    if (err instanceof XmlError) throw new IdentityError(`SOAP body: ${err.message}`, { cause: err })
    throw err
  }
  if (action !== undefined && action.toLowerCase() !== operation.toLowerCase()) throw new IdentityError('SOAPAction names another operation than the SOAP body')
  return operation
}

/**
 * The UserAgent of a UCWA create-application body: JSON (keys compared case-insensitively; two
 * spellings with different values are refused) or XML (`<property name="UserAgent">`).
 */
function ucwaApplicationUserAgent (body: Buffer, contentType: string | undefined): string | undefined {
  const text = body.toString('utf8')
  if (/xml/i.test(contentType ?? '')) {
    let root: XmlElement
    try {
      root = parseXml(text)
    } catch {
      return undefined // not ours to judge: the front end answers malformed bodies itself
    }
    const values = new Set<string>()
    collectXmlUserAgents(root, values)
    return single(values)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined
  const values = new Set<string>()
  for (const [key, value] of Object.entries(json)) {
    if (key.toLowerCase() !== 'useragent') continue
    if (typeof value !== 'string') throw new IdentityError('UserAgent in the body is not a string')
    values.add(value)
  }
  return single(values)
}

function collectXmlUserAgents (el: XmlElement, into: Set<string>): void {
  for (const child of el.children) {
    if (child.name === 'property' && child.attributes.name?.toLowerCase() === 'useragent') into.add(child.text.trim())
    collectXmlUserAgents(child, into)
  }
}

function single (values: Set<string>): string | undefined {
  if (values.size > 1) throw new IdentityError('the body gives more than one UserAgent')
  return values.values().next().value
}
