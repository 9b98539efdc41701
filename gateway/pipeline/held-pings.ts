import type { Metrics } from '../observability/metrics.js'
import { reply } from '../replies/reply.js'
import type { RequestState } from './request-state.js'

const SUPERSEDED = reply('GW_PING_SUPERSEDED', undefined, { note: 'superseded by a newer Ping of this device' })

/**
 * The held Ping of each device (account and DeviceId) in this process. A phone that lost its
 * connection's state (a NAT timeout it did not notice, a network switch) sends a new Ping while the
 * old one is still held; the old one gets Status 1 (no changes) from the gateway at once instead of two
 * being held upstream until the heartbeat ends.
 */
export class HeldPings {
  readonly #byDevice = new Map<string, RequestState>()
  readonly #metrics: Metrics

  constructor (metrics: Metrics) {
    this.#metrics = metrics
  }

  hold (state: RequestState, key: string): void {
    const older = this.#byDevice.get(key)
    if (older && older !== state && older.interrupt) {
      older.endReply = SUPERSEDED
      older.interrupt()
      this.#metrics.longPollsEndedBy('activesync', 'superseded').inc()
    }
    state.pingKey = key
    this.#byDevice.set(key, state)
  }

  /** The request is done: it no longer holds its device's place (unless a newer one took it). */
  release (state: RequestState): void {
    if (state.pingKey !== undefined && this.#byDevice.get(state.pingKey) === state) this.#byDevice.delete(state.pingKey)
  }

  get size (): number { return this.#byDevice.size }
}
