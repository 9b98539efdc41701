/** Protocols a policy can name. */
export const PROTOCOLS = ['activesync', 'ews', 'autodiscover', 'ucwa', 'ens'] as const
export type Protocol = typeof PROTOCOLS[number]

/**
 * Everything the engine may decide on, gathered by the protocol parsers (no I/O here). Absent values
 * are undefined; a rule on an absent field does not match (and `not:` of it does).
 */
export interface ClientIdentity {
  protocol: Protocol
  userAgent?: string | undefined
  deviceType?: string | undefined
  deviceId?: string | undefined
  deviceModel?: string | undefined
  deviceOS?: string | undefined
  user?: string | undefined
  command?: string | undefined
  method?: string | undefined
  path?: string | undefined
  clientIp?: string | undefined
  authScheme?: string | undefined
  /** Request headers, lower-case names. */
  headers?: Readonly<Record<string, string | string[] | undefined>> | undefined
}

export type Action = 'allow' | 'block' | 'quarantine'

export interface Decision {
  action: Action
  /** The rule that decided, or "default". */
  rule: string
  reason?: string | undefined
  /** The `flag` rules that matched on the way (allowed, logged and counted). */
  flags?: readonly string[] | undefined
}

/** The account name of `DOMAIN\user`, `user@domain` or `user`: one account, whatever the spelling. */
export function accountName (user: string): string {
  const slash = user.lastIndexOf('\\')
  const name = slash === -1 ? user : user.slice(slash + 1)
  const at = name.indexOf('@')
  return at === -1 ? name : name.slice(0, at)
}
