import { encodeWbxml } from './wbxml/codec.js'

/** Status 129, DeviceIsBlockedForThisUser (MS-ASCMD 2.2.2 common status codes, protocol 14.0+). */
export const DEVICE_BLOCKED = '129'

/** Each command's response element and the Status element inside it. */
const STATUS_OF: Record<string, [root: string, status: string]> = {
  FolderSync: ['FolderHierarchy:FolderSync', 'FolderHierarchy:Status'],
  FolderCreate: ['FolderHierarchy:FolderCreate', 'FolderHierarchy:Status'],
  FolderDelete: ['FolderHierarchy:FolderDelete', 'FolderHierarchy:Status'],
  FolderUpdate: ['FolderHierarchy:FolderUpdate', 'FolderHierarchy:Status'],
  Sync: ['AirSync:Sync', 'AirSync:Status'],
  Ping: ['Ping:Ping', 'Ping:Status'],
  Provision: ['Provision:Provision', 'Provision:Status'],
  Settings: ['Settings:Settings', 'Settings:Status'],
  ItemOperations: ['ItemOperations:ItemOperations', 'ItemOperations:Status'],
  GetItemEstimate: ['GetItemEstimate:GetItemEstimate', 'GetItemEstimate:Status'],
  Search: ['Search:Search', 'Search:Status'],
  ResolveRecipients: ['ResolveRecipients:ResolveRecipients', 'ResolveRecipients:Status'],
  ValidateCert: ['ValidateCert:ValidateCert', 'ValidateCert:Status'],
  SendMail: ['ComposeMail:SendMail', 'ComposeMail:Status'],
  SmartReply: ['ComposeMail:SmartReply', 'ComposeMail:Status'],
  SmartForward: ['ComposeMail:SmartForward', 'ComposeMail:Status']
}

/** Built once: the blocked answer never changes for a command. */
const BLOCKED_BODIES = new Map(Object.entries(STATUS_OF).map(([command, [root, status]]) =>
  [command.toLowerCase(), encodeWbxml({ name: root, children: [{ name: status, text: DEVICE_BLOCKED }] })]))

/** The WBXML body telling a 14.0+ client its device is blocked, or undefined for commands without a Status. */
export function blockedBody (command: string | undefined): Buffer | undefined {
  return command === undefined ? undefined : BLOCKED_BODIES.get(command.toLowerCase())
}
