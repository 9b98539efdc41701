import { decodeWbxml, encodeWbxml, type WbxmlElement } from './wbxml/codec.js'

/** Ping Status 5: the heartbeat interval is outside the allowed range; the answer names the allowed value (MS-ASCMD 2.2.3.162.13). */
export const PING_BAD_HEARTBEAT = '5'

/** The HeartbeatInterval a Ping request asks for, in seconds; undefined without a body (the device reuses its last one). */
export function pingHeartbeat (body: Buffer | undefined): number | undefined {
  if (!body || body.length === 0) return undefined
  const root = decodeWbxml(body)
  if (root.name !== 'Ping:Ping') return undefined
  const interval = root.children?.find(c => c.name === 'Ping:HeartbeatInterval')?.text
  return interval !== undefined && /^\d{1,6}$/.test(interval) ? Number(interval) : undefined
}

/** The Ping answer that tells the device the heartbeat it may use: Status 5 and HeartbeatInterval. */
export function pingHeartbeatAnswer (allowedSeconds: number): Buffer {
  const root: WbxmlElement = { name: 'Ping:Ping', children: [{ name: 'Ping:Status', text: PING_BAD_HEARTBEAT }, { name: 'Ping:HeartbeatInterval', text: String(allowedSeconds) }] }
  return encodeWbxml(root)
}
