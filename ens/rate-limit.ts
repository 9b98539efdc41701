/**
 * Key creation costs CPU (an RSA-2048 key pair, ~50 ms), so new keys are rate-limited per client
 * address: a token bucket of `burst` refilled at `perHour`. The default (300 at once, 600 an hour) lets
 * a whole office behind one NAT address onboard without noticing; a flood from one address stops there.
 */
export class KeyRateLimit {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  readonly #burst: number
  readonly #perMs: number

  constructor (burst = 300, perHour = 600) {
    this.#burst = burst
    this.#perMs = perHour / 3_600_000
  }

  take (address: string, now = Date.now()): boolean {
    const bucket = this.#buckets.get(address) ?? { tokens: this.#burst, at: now }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs)
    bucket.at = now
    if (this.#buckets.size > 100_000) this.#buckets.clear() // bounded memory under a spoofing flood
    this.#buckets.set(address, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
}
