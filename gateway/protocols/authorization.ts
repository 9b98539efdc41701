import { GatewayError } from '../errors/catalogue.js'

/**
 * The Authorization header by the RFC 9110 grammar (§11.4: `auth-scheme [ 1*SP token68 ]`). Basic
 * credentials are decoded only to take the user (`user`, `DOMAIN\user` or `user@domain`); the password
 * is never kept or returned. NTLM (and NTLM inside Negotiate) AUTHENTICATE messages give their user as
 * `DOMAIN\user`. Anything that does not follow the grammar throws: the caller answers 400.
 */
export interface Authorization {
  /** Lower-case scheme ("basic", "ntlm", "negotiate", "bearer", ...), or "none". */
  scheme: string
  user: string | undefined
  /** NTLM message type of an NTLM/Negotiate token (1 negotiate, 3 authenticate); undefined otherwise. */
  ntlmMessage?: number | undefined
}

export class AuthorizationError extends GatewayError {
  constructor (message: string) { super('GW_PROTOCOL_AUTHORIZATION', message) }
}

/** auth-scheme = token; token68 (RFC 9110 §11.2). */
const CREDENTIALS = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +([A-Za-z0-9._~+/-]+=*))? *$/
// Not bearer: UCWA clients send `Bearer cwt=...`, an auth-param, and the gateway reads nothing from it.
const TOKEN_SCHEMES = new Set(['basic', 'ntlm', 'negotiate'])
/** Tokens larger than this are no Basic or NTLM credential (Kerberos tickets fit in 12 KB). */
const MAX_TOKEN = 16_384

export function parseAuthorization (header: string | undefined): Authorization {
  if (header === undefined || header === '') return { scheme: 'none', user: undefined }
  const match = CREDENTIALS.exec(header)
  if (!match) {
    // auth-param lists (`Digest username="..."`) are grammatical too, but not for the schemes we read.
    const other = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) [\x20-\x7e]*$/.exec(header)
    if (other && !TOKEN_SCHEMES.has((other[1] as string).toLowerCase())) return { scheme: (other[1] as string).toLowerCase(), user: undefined }
    throw new AuthorizationError('Authorization header does not follow the RFC 9110 grammar')
  }
  const scheme = (match[1] as string).toLowerCase()
  const token = match[2]
  if (token === undefined) return { scheme, user: undefined }
  if (token.length > MAX_TOKEN) throw new AuthorizationError('Authorization token too large')
  if (scheme === 'basic') return { scheme, user: basicUser(token) }
  if (scheme === 'ntlm' || scheme === 'negotiate') return { scheme, ...ntlm(Buffer.from(token, 'base64')) }
  return { scheme, user: undefined }
}

/** The authentication scheme of an Authorization header, lower-case ("basic", "ntlm", ..., "none"); never throws. */
export function authScheme (header: string | undefined): string {
  if (!header) return 'none'
  const space = header.indexOf(' ')
  return (space === -1 ? header : header.slice(0, space)).toLowerCase()
}

function basicUser (token: string): string | undefined {
  const decoded = Buffer.from(token, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon === -1 ? undefined : decoded.slice(0, colon)
  return user || undefined
}

const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1')
const NEGOTIATE_UNICODE = 0x00000001

/**
 * The message type of an NTLM token, and for an AUTHENTICATE message (type 3) its user as
 * `DOMAIN\user` (MS-NLMP 2.2.1.3). Under Negotiate (SPNEGO) the NTLM message sits inside ASN.1: it is
 * found by its signature. A Kerberos token has none: no user.
 */
function ntlm (raw: Buffer): { user: string | undefined, ntlmMessage: number | undefined } {
  const start = raw.indexOf(NTLMSSP)
  if (start === -1 || raw.length < start + 12) return { user: undefined, ntlmMessage: undefined }
  const message = raw.subarray(start)
  const type = message.readUInt32LE(8)
  if (type !== 3) return { user: undefined, ntlmMessage: type }
  if (message.length < 64) throw new AuthorizationError('NTLM AUTHENTICATE message too short')
  const unicode = (message.readUInt32LE(60) & NEGOTIATE_UNICODE) !== 0
  const field = (offset: number): string => {
    const length = message.readUInt16LE(offset)
    const at = message.readUInt32LE(offset + 4)
    if (at + length > message.length) throw new AuthorizationError('NTLM AUTHENTICATE field past the end')
    return message.toString(unicode ? 'utf16le' : 'latin1', at, at + length)
  }
  const domain = field(28)
  const user = field(36)
  return { user: user === '' ? undefined : domain === '' ? user : `${domain}\\${user}`, ntlmMessage: 3 }
}
