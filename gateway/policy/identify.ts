import type { IncomingMessage } from 'node:http'
import type { ServiceName } from '../config/schema.js'
import { parseActiveSyncRequest, type ActiveSyncRequest } from '../protocols/activesync-request.js'
import { parseAuthorization } from '../protocols/authorization.js'
import { decodeWbxml, findText, type WbxmlElement } from '../protocols/wbxml/codec.js'
import type { RequestBody } from '../proxy/request-body.js'
import type { ClientIdentity } from '../../policies/identity.js'
import type { DeviceInformation } from '../store/store.js'

export interface Identified {
  identity: ClientIdentity
  activesync?: ActiveSyncRequest
  deviceInformation?: DeviceInformation
}

/**
 * Who is asking, from the request line, headers and (buffered) body. Pure: no I/O. Throws on input
 * the gateway refuses to guess about (ambiguous query, malformed WBXML): the caller answers 400.
 */
export function identify (service: ServiceName, req: IncomingMessage, path: string, query: string, clientIp: string, body: RequestBody): Identified {
  const auth = parseAuthorization(req.headers.authorization)
  const identity: ClientIdentity = {
    protocol: service,
    userAgent: req.headers['user-agent'],
    method: req.method,
    path,
    clientIp,
    authScheme: auth.scheme,
    user: auth.user,
    headers: req.headers
  }
  const data = body.kind === 'buffered' ? body.data : undefined
  if (service === 'activesync') {
    const as = parseActiveSyncRequest(query, req.headers)
    identity.command = as.command
    identity.deviceId = as.deviceId
    identity.deviceType = as.deviceType
    identity.user ??= as.user // Authorization is authoritative; the query's User is what the client claims
    const result: Identified = { identity, activesync: as }
    if (data && (as.command === 'Settings' || as.command === 'Provision')) {
      const info = deviceInformation(decodeWbxml(data))
      if (info) {
        result.deviceInformation = info
        identity.deviceModel = info.model
        identity.deviceOS = info.os
      }
    }
    return result
  }
  if (service === 'ews') {
    identity.command = soapAction(req.headers.soapaction, data)
  } else if (service === 'ucwa' && data && req.method === 'POST' && /\/applications$/i.test(path)) {
    const ua = ucwaApplicationUserAgent(data)
    if (ua) identity.userAgent = ua
  }
  return { identity }
}

function deviceInformation (root: WbxmlElement): DeviceInformation | undefined {
  const find = (el: WbxmlElement): WbxmlElement | undefined => {
    if (el.name === 'Settings:DeviceInformation') return el
    for (const child of el.children ?? []) {
      const found = find(child)
      if (found) return found
    }
    return undefined
  }
  const info = find(root)
  if (!info) return undefined
  return {
    model: findText(info, 'Settings:Model'),
    os: findText(info, 'Settings:OS'),
    friendlyName: findText(info, 'Settings:FriendlyName'),
    imei: findText(info, 'Settings:IMEI'),
    osLanguage: findText(info, 'Settings:OSLanguage'),
    phoneNumber: findText(info, 'Settings:PhoneNumber'),
    userAgent: findText(info, 'Settings:UserAgent'),
    mobileOperator: findText(info, 'Settings:MobileOperator')
  }
}

/** The EWS operation: SOAPAction's last segment, else the first element inside soap:Body. */
function soapAction (header: string | string[] | undefined, body: Buffer | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value) return value.replace(/"/g, '').split('/').pop() || undefined
  if (!body) return undefined
  return /<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)/.exec(body.subarray(0, 8192).toString('utf8'))?.[1]
}

/** The UserAgent field of a UCWA create-application body (PascalCase or camelCase). */
function ucwaApplicationUserAgent (body: Buffer): string | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>
    const ua = json.UserAgent ?? json.userAgent
    return typeof ua === 'string' ? ua : undefined
  } catch {
    return undefined
  }
}
