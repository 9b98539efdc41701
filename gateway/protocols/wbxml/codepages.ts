/**
 * ActiveSync WBXML code pages (MS-ASWBXML 2.1.2). Only the pages and tags the gateway reads or writes;
 * a tag missing here fails loudly in the codec rather than being guessed.
 */
export const CODE_PAGES: Record<number, { name: string, tags: Record<number, string> }> = {
  0: {
    name: 'AirSync',
    tags: {
      0x05: 'Sync', 0x06: 'Responses', 0x07: 'Add', 0x08: 'Change', 0x09: 'Delete', 0x0a: 'Fetch', 0x0b: 'SyncKey', 0x0c: 'ClientId', 0x0d: 'ServerId', 0x0e: 'Status', 0x0f: 'Collection', 0x10: 'Class', 0x12: 'CollectionId', 0x13: 'GetChanges', 0x14: 'MoreAvailable', 0x15: 'WindowSize', 0x16: 'Commands', 0x17: 'Options', 0x18: 'FilterType', 0x1b: 'Conflict', 0x1c: 'Collections', 0x1d: 'ApplicationData', 0x1e: 'DeletesAsMoves', 0x20: 'Supported', 0x21: 'SoftDelete', 0x22: 'MIMESupport', 0x23: 'MIMETruncation', 0x24: 'Wait', 0x25: 'Limit', 0x26: 'Partial', 0x27: 'ConversationMode', 0x28: 'MaxItems', 0x29: 'HeartbeatInterval'
    }
  },
  6: {
    name: 'GetItemEstimate',
    tags: { 0x05: 'GetItemEstimate', 0x06: 'Version', 0x07: 'Collections', 0x08: 'Collection', 0x09: 'Class', 0x0a: 'CollectionId', 0x0b: 'DateTime', 0x0c: 'Estimate', 0x0d: 'Response', 0x0e: 'Status' }
  },
  7: {
    name: 'FolderHierarchy',
    tags: {
      0x07: 'DisplayName', 0x08: 'ServerId', 0x09: 'ParentId', 0x0a: 'Type', 0x0c: 'Status', 0x0e: 'Changes', 0x0f: 'Add', 0x10: 'Delete', 0x11: 'Update', 0x12: 'SyncKey', 0x13: 'FolderCreate', 0x14: 'FolderDelete', 0x15: 'FolderUpdate', 0x16: 'FolderSync', 0x17: 'Count'
    }
  },
  10: {
    name: 'ResolveRecipients',
    tags: { 0x05: 'ResolveRecipients', 0x06: 'Response', 0x07: 'Status', 0x08: 'Type', 0x09: 'Recipient', 0x0a: 'DisplayName', 0x0b: 'EmailAddress' }
  },
  11: {
    name: 'ValidateCert',
    tags: { 0x05: 'ValidateCert', 0x06: 'Certificates', 0x07: 'Certificate', 0x08: 'CertificateChain', 0x09: 'CheckCRL', 0x0a: 'Status' }
  },
  13: {
    name: 'Ping',
    tags: { 0x05: 'Ping', 0x06: 'AutdState', 0x07: 'Status', 0x08: 'HeartbeatInterval', 0x09: 'Folders', 0x0a: 'Folder', 0x0b: 'Id', 0x0c: 'Class', 0x0d: 'MaxFolders' }
  },
  14: {
    name: 'Provision',
    tags: { 0x05: 'Provision', 0x06: 'Policies', 0x07: 'Policy', 0x08: 'PolicyType', 0x09: 'PolicyKey', 0x0a: 'Data', 0x0b: 'Status', 0x0c: 'RemoteWipe', 0x0d: 'EASProvisionDoc' }
  },
  15: {
    name: 'Search',
    tags: { 0x05: 'Search', 0x07: 'Store', 0x08: 'Name', 0x09: 'Query', 0x0a: 'Options', 0x0b: 'Range', 0x0c: 'Status', 0x0d: 'Response', 0x0e: 'Result', 0x0f: 'Properties', 0x10: 'Total' }
  },
  18: {
    name: 'Settings',
    tags: {
      0x05: 'Settings', 0x06: 'Status', 0x07: 'Get', 0x08: 'Set', 0x09: 'Oof', 0x16: 'DeviceInformation', 0x17: 'Model', 0x18: 'IMEI', 0x19: 'FriendlyName', 0x1a: 'OS', 0x1b: 'OSLanguage', 0x1c: 'PhoneNumber', 0x1d: 'UserInformation', 0x1e: 'EmailAddresses', 0x1f: 'SmtpAddress', 0x20: 'UserAgent', 0x21: 'EnableOutboundSMS', 0x22: 'MobileOperator'
    }
  },
  20: {
    name: 'ItemOperations',
    tags: { 0x05: 'ItemOperations', 0x06: 'Fetch', 0x07: 'Store', 0x08: 'Options', 0x09: 'Range', 0x0a: 'Total', 0x0b: 'Properties', 0x0c: 'Data', 0x0d: 'Status', 0x0e: 'Response', 0x0f: 'Version', 0x10: 'Schema', 0x11: 'Part', 0x12: 'EmptyFolderContents', 0x13: 'DeleteSubFolders', 0x14: 'UserName', 0x15: 'Password', 0x16: 'Move', 0x17: 'DstFldId', 0x18: 'ConversationId', 0x19: 'MoveAlways' }
  },
  21: {
    name: 'ComposeMail',
    tags: { 0x05: 'SendMail', 0x06: 'SmartForward', 0x07: 'SmartReply', 0x08: 'SaveInSentItems', 0x09: 'ReplaceMime', 0x0b: 'Source', 0x0c: 'FolderId', 0x0d: 'ItemId', 0x0e: 'LongId', 0x0f: 'InstanceId', 0x10: 'Mime', 0x11: 'ClientId', 0x12: 'Status', 0x13: 'AccountId' }
  }
}

/** "Page:Tag" → [page, token], built once. */
export const TOKENS: ReadonlyMap<string, readonly [number, number]> = new Map(
  Object.entries(CODE_PAGES).flatMap(([page, { name, tags }]) =>
    Object.entries(tags).map(([token, tag]) => [`${name}:${tag}`, [Number(page), Number(token)] as const]))
)
