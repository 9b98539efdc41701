import type { EnsState, StoredKey } from './state/ens-state.js'

export type { StoredKey }

const TEN_YEARS = 10 * 365 * 86_400
/** A key no subscription has used yet is forgotten after a day: asking for keys fills no store for good. */
const UNUSED_KEY_SECONDS = 86_400

/**
 * Per-user key pairs in ENS's state, the private key only ever wrapped (ens/crypto.ts). One current
 * pair per user, handed to devices; after a rotation the previous pair stays readable as retired for a
 * grace period, so subscriptions whose callback URL carries credentials encrypted to it keep working
 * until their devices subscribe again.
 */
export class EnsKeys {
  readonly #state: EnsState

  constructor (state: EnsState) {
    this.#state = state
  }

  async get (userId: string): Promise<StoredKey | undefined> {
    return await this.#state.currentKey(userId)
  }

  /** The pair `keyId` of the user: the current one, or a retired one still in its grace period. */
  async find (userId: string, keyId: string): Promise<StoredKey | undefined> {
    const current = await this.get(userId)
    if (current?.keyId === keyId) return current
    return await this.#state.retiredKey(userId, keyId)
  }

  /** Stores the pair unless another request or gateway stored one first; returns the one in force. */
  async putIfAbsent (userId: string, pair: StoredKey): Promise<StoredKey> {
    if (await this.#state.addKey(userId, pair, UNUSED_KEY_SECONDS)) return pair
    return await this.get(userId) ?? pair
  }

  /** A subscription used the current key `keyId`: keep it until it is rotated. */
  async keep (userId: string, keyId: string): Promise<void> {
    const current = await this.get(userId)
    if (current?.keyId === keyId && !current.used) await this.#state.setCurrentKey(userId, { ...current, used: true }, TEN_YEARS)
  }

  /**
   * Makes `pair` the current key. The previous one is retired for `graceSeconds`, or forgotten at once
   * when that is 0 (a suspected compromise: its subscriptions are asked to subscribe again).
   */
  async rotate (userId: string, pair: StoredKey, graceSeconds: number): Promise<{ retired?: string }> {
    const previous = await this.get(userId)
    if (previous && graceSeconds > 0) await this.#state.retireKey(userId, previous, graceSeconds)
    await this.#state.setCurrentKey(userId, pair, TEN_YEARS)
    return previous ? { retired: previous.keyId } : {}
  }
}
