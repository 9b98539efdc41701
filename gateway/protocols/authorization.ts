/**
 * The auth scheme and user name of an Authorization header. Basic credentials are decoded only to
 * take the user (`user`, `DOMAIN\user` or `user@domain`); the password is never kept or returned.
 */
export function parseAuthorization (header: string | undefined): { scheme: string, user: string | undefined } {
  if (!header) return { scheme: 'none', user: undefined }
  const space = header.indexOf(' ')
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase()
  if (scheme !== 'basic' || space === -1) return { scheme, user: undefined }
  const decoded = Buffer.from(header.slice(space + 1).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon === -1 ? undefined : decoded.slice(0, colon)
  return { scheme, user: user || undefined }
}
