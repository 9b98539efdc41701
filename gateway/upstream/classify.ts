import type { FailureReason } from './server.js'

/**
 * Tells a server-level failure apart from an answer for this user (MS-ASHTTP's X-MS-ASThrottle, EWS
 * throttling's ErrorServerBusy). Server-level: any 503 without a per-user throttling marker (an HTTP.sys 503 from a stopped IIS
 * app pool, `Server: Microsoft-HTTPAPI/2.0`, is the classic), a refused or timed-out connection, a reset
 * before the response. Per-user throttling (ActiveSync 503 + X-MS-ASThrottle, EWS ErrorServerBusy as
 * HTTP 500) goes back to the client unchanged: another server would say the same, and it is no fault.
 */
export function isServerLevel503 (status: number, throttled: boolean): boolean {
  return status === 503 && !throttled
}

/** Parses Retry-After as delta-seconds or an HTTP date; undefined when absent or unusable. */
export function retryAfterSeconds (value: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value
  if (raw === undefined || raw === '') return undefined
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim())
  const date = Date.parse(raw)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'UPSTREAM_CONNECT_TIMEOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED'])
const TLS_CODE = /^(ERR_TLS_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|CERT_|ERR_SSL_)/

export interface AttemptError {
  reason: Exclude<FailureReason, 'http_503' | 'probe'>
  /** True when the request certainly never reached the server (safe to replay any method). */
  beforeSend: boolean
  code: string
}

/** Classifies an error thrown by an attempt. */
export function classifyError (err: unknown): AttemptError {
  const code = String((err as NodeJS.ErrnoException).code ?? (err as Error).name ?? 'UNKNOWN')
  if (CONNECT_CODES.has(code) || TLS_CODE.test(code) || (err as { beforeSend?: boolean }).beforeSend === true) return { reason: 'connect', beforeSend: true, code }
  if (code === 'UPSTREAM_HEADERS_TIMEOUT' || code === 'UPSTREAM_BODY_TIMEOUT') return { reason: 'timeout', beforeSend: false, code }
  return { reason: 'reset', beforeSend: false, code }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

export function isIdempotent (method: string): boolean {
  return IDEMPOTENT.has(method)
}
