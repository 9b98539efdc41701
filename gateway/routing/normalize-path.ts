/**
 * Canonical request paths. IIS matches paths case-insensitively after percent-decoding, so a rule or
 * a route that looked only at the raw path could be bypassed with `/EWS/%2e%2e/ucwa` or `//ews`.
 * Every decision (routing now, policies later) is taken on the canonical form, and the canonical form
 * is what the upstream receives: the gateway and the server never disagree about what was asked.
 */

export type PathResult =
  | { ok: true, path: string, query: string }
  | { ok: false, reason: string }

const NEEDS_WORK = /%|\/\/|\/\.|\\/

/** Splits a request target into canonical path and raw query. Only origin-form targets are accepted. */
export function canonicalTarget (target: string): PathResult {
  if (target.charCodeAt(0) !== 47 /* '/' */) {
    // absolute-form (`GET http://other.host/`), authority-form (CONNECT) and `*` never reach an upstream:
    // this is a reverse proxy for its configured servers, not an open proxy.
    return { ok: false, reason: 'request target must be origin-form' }
  }
  const q = target.indexOf('?')
  const rawPath = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q + 1)
  if (!NEEDS_WORK.test(rawPath)) return { ok: true, path: rawPath, query }
  let decoded: string
  try {
    decoded = decodeURIComponent(rawPath)
  } catch {
    return { ok: false, reason: 'malformed percent-encoding in path' }
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(decoded)) return { ok: false, reason: 'control character in path' }
  const segments = removeDotSegments(decoded.replace(/\\/g, '/').split('/'))
  return { ok: true, path: '/' + segments.map(encodeSegment).join('/'), query }
}

function removeDotSegments (raw: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i++) {
    const seg = raw[i] as string
    const last = i === raw.length - 1
    if (seg === '..') {
      out.pop()
      if (last) out.push('')
    } else if (seg === '.') {
      if (last) out.push('')
    } else if (seg !== '' || (last && out.length > 0)) {
      out.push(seg) // empty segments (duplicate slashes) vanish; a trailing slash stays
    }
  }
  return out
}

/** Re-encodes a decoded segment: what RFC 3986 allows in a segment stays readable. */
function encodeSegment (seg: string): string {
  return encodeURIComponent(seg).replace(/%(?:3A|40|21|24|26|27|28|29|2A|2B|2C|3B|3D)/g, decodeURIComponent)
}
