/**
 * Every error the gateway names, with a stable code (what log lines, metrics and tests refer to) and,
 * for those that become an answer, its HTTP status. Codes never change meaning; new ones are added.
 * README, "Errors", lists them; a newcomer finds where each is raised by searching for the code.
 */
export const CATALOGUE = {
  // Routing: which service a request belongs to.
  GW_ROUTE_NOT_FOUND: { status: 404, message: 'Not found' },
  GW_ROUTE_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  // The request itself: refused before anything is decided on it.
  GW_PROTOCOL_BAD_TARGET: { status: 400, message: 'Bad request: request target' },
  GW_PROTOCOL_REPEATED_HEADER: { status: 400, message: 'Bad request: repeated header' },
  GW_PROTOCOL_AUTODISCOVER_TARGET: { status: 400, message: 'Bad request: Autodiscover target' },
  GW_PROTOCOL_BODY_TOO_LARGE: { status: 413, message: 'Request body too large' },
  GW_PROTOCOL_IDENTITY: { status: 400, message: 'Bad request: identity' },
  GW_PROTOCOL_WBXML: { status: 400, message: 'Bad request: WBXML' },
  GW_PROTOCOL_XML: { status: 400, message: 'Bad request: XML' },
  GW_PROTOCOL_ACTIVESYNC_QUERY: { status: 400, message: 'Bad request: ActiveSync query' },
  GW_PROTOCOL_AUTHORIZATION: { status: 400, message: 'Bad request: Authorization' },
  // The policy's verdicts (answered in the protocol's own form: gateway/replies/write-reply.ts).
  GW_POLICY_BLOCKED: { status: 403, message: 'Device blocked by policy' },
  GW_POLICY_QUARANTINED: { status: 403, message: 'Device quarantined until an administrator approves it' },
  GW_POLICY_PATTERN: { status: undefined, message: 'Invalid pattern in a rule' },
  // Account protection: a refused credential gets Exchange's own 401, a banned client a 403.
  GW_PROTECTION_REFUSED: { status: 401, message: 'Unauthorized' },
  GW_PROTECTION_BANNED: { status: 403, message: 'Forbidden: too many failed sign-ins from this address' },
  GW_RATE_LIMITED: { status: 429, message: 'Too many requests, please retry later' },
  GW_STORE_UNAVAILABLE: { status: 503, message: 'Service temporarily unavailable, please retry' },
  // Upstream: what the attempt loop ends with when no server answered.
  GW_UPSTREAM_EXHAUSTED: { status: 503, message: 'Service temporarily unavailable, please retry' },
  GW_UPSTREAM_CONNECT: { status: 502, message: 'Upstream connection failed' },
  GW_UPSTREAM_TIMEOUT: { status: 504, message: 'Upstream did not answer in time' },
  GW_UPSTREAM_BAD_RESPONSE: { status: 502, message: 'Upstream answered with a malformed response' },
  GW_PING_SUPERSEDED: { status: 503, message: 'Superseded by a newer Ping of this device' },
  GW_PING_HEARTBEAT: { status: 200, message: 'Heartbeat interval outside the allowed range' },
  GW_SHUTDOWN: { status: 503, message: 'Gateway restarting, please retry' },
  GW_INTERNAL: { status: 500, message: 'Internal gateway error' },
  // ENS (the device API and Exchange's callback).
  GW_ENS_BAD_REQUEST: { status: 400, message: 'Bad request' },
  GW_ENS_API_TOKEN: { status: 401, message: 'missing or wrong ApiToken header' },
  GW_ENS_UNKNOWN_KEY: { status: 404, message: 'unknown userId or keyId: ask for a public key first' },
  GW_ENS_NO_SUBSCRIPTION: { status: 404, message: 'no such subscription' },
  GW_ENS_UNDECRYPTABLE: { status: 400, message: 'credentials do not decrypt' },
  GW_ENS_EWS_UNAUTHORIZED: { status: 401, message: 'Exchange refused the credentials' },
  GW_ENS_MAILBOX_REFUSED: { status: 403, message: 'these credentials do not open the mailbox of this userId' },
  GW_ENS_EWS_UNAVAILABLE: { status: 503, message: 'Exchange is not reachable, try again later' },
  GW_ENS_RATE_LIMITED: { status: 429, message: 'too many new keys from this address' },
  GW_ENS_BUSY: { status: 503, message: 'too many keys being made right now, try again shortly' },
  GW_ENS_RETRY_LATER: { status: 503, message: 'temporarily unavailable' },
  GW_ENS_BAD_NOTIFICATION: { status: 400, message: 'not a SendNotification' },
  GW_ENS_UNSUPPORTED_MEDIA: { status: 415, message: 'expected text/xml' },
  // Configuration: never an HTTP answer, a line from `check` or `start`.
  GW_CONFIG_INVALID: { status: undefined, message: 'Invalid configuration' }
} as const satisfies Record<string, { status: number | undefined, message: string }>

export type ErrorCode = keyof typeof CATALOGUE

export function statusOf (code: ErrorCode): number {
  return CATALOGUE[code].status ?? 500
}

/**
 * The one error class with a catalogue code. Parsers and services throw subclasses of it (so callers
 * tell them apart with `instanceof` or the code, never by their message), always with the `cause` that
 * led to it when there is one.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string = CATALOGUE[code].message, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  get status (): number {
    return statusOf(this.code)
  }
}

export function isGatewayError (err: unknown, prefix?: string): err is GatewayError {
  return err instanceof GatewayError && (prefix === undefined || err.code.startsWith(prefix))
}
