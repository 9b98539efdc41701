import type { UpstreamPool } from './pool.js'

/** A credential check waits this long for the upstream; no answer counts as "not verified". */
const CHECK_TIMEOUT_MS = 10_000

/**
 * Whether `authorization` is valid at the upstream, asked without forwarding the client's request:
 * `OPTIONS /Microsoft-Server-ActiveSync` with those credentials, which Exchange answers 200 only when
 * they open a mailbox (401 otherwise). Used for quarantined devices, which are never forwarded, so that
 * the queue an admin approves from holds only real users' devices.
 */
export function credentialChecker (pools: ReadonlyMap<string, UpstreamPool>, host: string): (upstream: string, authorization: string) => Promise<boolean> {
  return async (upstream, authorization) => {
    const pool = pools.get(upstream)
    if (!pool) return false
    try {
      const res = await pool.request({
        path: '/Microsoft-Server-ActiveSync',
        method: 'OPTIONS',
        headers: { host, authorization, 'user-agent': 'Portcullis-quarantine-check/1.0' },
        timeoutMs: CHECK_TIMEOUT_MS,
        maxBytes: 65_536
      })
      return res.status === 200
    } catch {
      return false
    }
  }
}
