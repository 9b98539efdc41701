import type { ErrorCode } from '../errors/catalogue.js'

/**
 * An answer the gateway makes itself, as a value: stages and the attempt loop return or pass one of
 * these, and only `writeReply` (write-reply.ts) turns it into bytes, in the form the client's protocol
 * expects. `message` replaces the catalogue's text; `note` is what the request log line says why.
 */
export interface Reply {
  readonly code: ErrorCode
  /** Another status than the catalogue's (ActiveSync is throttled with 503 + X-MS-ASThrottle, not 429). */
  readonly status?: number
  readonly message?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly note?: string
  /**
   * For policy verdicts on ActiveSync: the command and protocol version, so that a 14.0+ command with
   * a Status gets its own WBXML answer with Status 129 instead of a 403.
   */
  readonly activesync?: { readonly command: string | undefined, readonly version: string | undefined }
  /** An exact answer: an upstream's own, replayed (a credential refused locally gets Exchange's 401), or a protocol body. */
  readonly exact?: { readonly status: number, readonly headers: readonly string[], readonly body: Buffer }
}

export function reply (code: ErrorCode, message?: string, extra: Omit<Reply, 'code' | 'message'> = {}): Reply {
  return message === undefined ? { code, ...extra } : { code, message, ...extra }
}
