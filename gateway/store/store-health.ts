import type { Logger } from '../observability/log.js'

/**
 * Whether the store answers, as the request path sees it: one warn line when an outage starts and one
 * info line when it ends, however many requests meet it in between.
 */
export class StoreHealth {
  readonly #log: Logger
  #down = false

  constructor (log: Logger) {
    this.#log = log
  }

  get down (): boolean { return this.#down }

  failed (err: unknown): void {
    if (this.#down) return
    this.#down = true
    this.#log.warn({ code: (err as { code?: string }).code, message: (err as Error).message }, 'store unreachable: requests that need it are answered per store.onUnavailable until it is back')
  }

  succeeded (): void {
    if (!this.#down) return
    this.#down = false
    this.#log.info('store reachable again')
  }
}
