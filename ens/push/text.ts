/**
 * Limits for what a push shows, in UTF-8 bytes. APNs refuses payloads over 4 KB (413) and FCM over
 * 4 KB of notification data (INVALID_ARGUMENT); an external sender picks the display name and the
 * subject, so both are cut well below that, whatever they hold.
 */
export const MAX_TITLE_BYTES = 128
export const MAX_BODY_BYTES = 1024

/** `text` cut to at most `maxBytes` of UTF-8, on a code point boundary, with an ellipsis when cut. */
export function truncateUtf8 (text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text
  let bytes = 3 // the ellipsis
  let out = ''
  for (const char of text) { // by code point: never half a surrogate pair
    const size = Buffer.byteLength(char)
    if (bytes + size > maxBytes) break
    bytes += size
    out += char
  }
  return out + '…'
}
