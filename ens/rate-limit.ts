import { networkOf } from '../gateway/net/networks.js'

export type Admission = 'ok' | 'busy' | 'limited'

/**
 * Key creation costs CPU (an RSA-2048 key pair, ~50 ms), so new keys are limited twice: per client, a
 * token bucket of `burst` refilled at `perHour` (the default, 300 at once and 600 an hour, lets a whole
 * office behind one NAT address onboard without noticing), and globally, at most `concurrent` key
 * generations at once, so no spread of addresses can take every core. IPv6 clients are counted per /64:
 * one host owns a whole /64 and can rotate through it.
 */
export class KeyRateLimit {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  readonly #burst: number
  readonly #perMs: number
  readonly #concurrent: number
  #running = 0

  constructor (burst = 300, perHour = 600, concurrent = 4) {
    this.#burst = burst
    this.#perMs = perHour / 3_600_000
    this.#concurrent = concurrent
  }

  /** 'ok' takes a slot that `done()` must give back. */
  admit (address: string, now = Date.now()): Admission {
    if (this.#running >= this.#concurrent) return 'busy'
    if (!this.take(address, now)) return 'limited'
    this.#running++
    return 'ok'
  }

  done (): void {
    this.#running--
  }

  take (address: string, now = Date.now()): boolean {
    const key = bucketOf(address)
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs)
    bucket.at = now
    if (this.#buckets.size > 100_000) this.#buckets.clear() // bounded memory under a spoofing flood
    this.#buckets.set(key, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
}

/** IPv4 as is; IPv6 by its /64. */
export function bucketOf (address: string): string {
  return networkOf(address, 32, 64)
}
