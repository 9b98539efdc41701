/**
 * Retries may be at most `percent` of the requests of the last 10 seconds (plus a small floor, so a
 * quiet pool can still fail over). Counting over a window rather than retries in flight (Envoy's
 * budget) bounds the amplification itself: when every server fails, a burst of N requests makes at
 * most N × (1 + percent/100) + floor attempts instead of N × maxAttempts. The idea is Finagle's RetryBudget.
 */
export class RetryBudget {
  static readonly WINDOW_SECONDS = 10
  readonly #requests = new Float64Array(RetryBudget.WINDOW_SECONDS)
  readonly #retries = new Float64Array(RetryBudget.WINDOW_SECONDS)
  readonly #ratio: number
  readonly #floor: number
  #second = 0

  constructor (percent: number, minRetries: number) {
    this.#ratio = percent / 100
    this.#floor = minRetries
  }

  recordRequest (): void {
    this.#requests[this.#slot()]! += 1
  }

  /** Takes one retry from the budget if there is room. */
  tryAcquire (): boolean {
    const slot = this.#slot()
    let requests = 0
    let retries = 0
    for (let i = 0; i < RetryBudget.WINDOW_SECONDS; i++) {
      requests += this.#requests[i]!
      retries += this.#retries[i]!
    }
    if (retries >= this.#floor + requests * this.#ratio) return false
    this.#retries[slot]! += 1
    return true
  }

  /** The bucket of the current second, clearing the buckets of the seconds that passed since. */
  #slot (): number {
    const now = Math.floor(Date.now() / 1000)
    const elapsed = now - this.#second
    if (elapsed > 0) {
      for (let i = 1; i <= Math.min(elapsed, RetryBudget.WINDOW_SECONDS); i++) {
        const slot = (this.#second + i) % RetryBudget.WINDOW_SECONDS
        this.#requests[slot] = 0
        this.#retries[slot] = 0
      }
      this.#second = now
    }
    return now % RetryBudget.WINDOW_SECONDS
  }
}
