/**
 * The auth scheme and user name of an Authorization header. Basic credentials are decoded only to
 * take the user (`user`, `DOMAIN\user` or `user@domain`); the password is never kept or returned.
 */
export function parseAuthorization (header: string | undefined): { scheme: string, user: string | undefined } {
  const scheme = authScheme(header)
  const space = header?.indexOf(' ') ?? -1
  if (!header || scheme !== 'basic' || space === -1) return { scheme, user: undefined }
  const decoded = Buffer.from(header.slice(space + 1).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon === -1 ? undefined : decoded.slice(0, colon)
  return { scheme, user: user || undefined }
}

/** The authentication scheme of an Authorization header, lower-case ("basic", "ntlm", ..., "none"). */
export function authScheme (header: string | undefined): string {
  if (!header) return 'none'
  const space = header.indexOf(' ')
  return (space === -1 ? header : header.slice(0, space)).toLowerCase()
}
