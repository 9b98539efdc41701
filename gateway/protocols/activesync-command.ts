/**
 * The ActiveSync command of a request, from either query form of MS-ASHTTP 2.2.1.1.1: the plain
 * `Cmd=Ping&User=...` or the base64-encoded binary query whose second byte is the command code.
 * Only what the proxy needs to pick a timeout; the full parser belongs to the policy engine.
 */
const COMMAND_CODES: Record<number, string> = {
  0: 'Sync', 1: 'SendMail', 2: 'SmartForward', 3: 'SmartReply', 4: 'GetAttachment', 9: 'FolderSync', 10: 'FolderCreate', 11: 'FolderDelete', 12: 'FolderUpdate', 13: 'MoveItems', 14: 'GetItemEstimate', 15: 'MeetingResponse', 16: 'Search', 17: 'Settings', 18: 'Ping', 19: 'ItemOperations', 20: 'Provision', 21: 'ResolveRecipients', 22: 'ValidateCert'
}

export function activesyncCommand (query: string): string | undefined {
  if (query === '') return undefined
  if (/[&=]/.test(query.replace(/(?:=|%3D)+$/i, ''))) {
    for (const pair of query.split('&')) {
      if (pair.length > 4 && pair.slice(0, 4).toLowerCase() === 'cmd=') return pair.slice(4)
    }
    return undefined
  }
  // Base64 query: byte 0 protocol version, byte 1 command code.
  const bytes = Buffer.from(decodeURIComponent(query), 'base64')
  return bytes.length >= 2 ? COMMAND_CODES[bytes[1] as number] : undefined
}
