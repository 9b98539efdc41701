import type { Store } from '../gateway/store/store.js'
import type { UserKeyPair } from './crypto.js'

/** Per-user key pairs in the store, the private key only ever wrapped (ens/crypto.ts). */
export class EnsKeys {
  readonly #store: Store

  constructor (store: Store) {
    this.#store = store
  }

  async get (userId: string): Promise<(UserKeyPair & { createdAt: string }) | undefined> {
    const json = await this.#store.get(`ens:key:${userId}`)
    return json ? JSON.parse(json) as UserKeyPair & { createdAt: string } : undefined
  }

  /** Stores the pair unless another request or gateway stored one first; returns the one in force. */
  async putIfAbsent (userId: string, pair: UserKeyPair & { createdAt: string }): Promise<UserKeyPair & { createdAt: string }> {
    if (await this.#store.setIfAbsent(`ens:key:${userId}`, JSON.stringify(pair), 10 * 365 * 86_400)) return pair
    return await this.get(userId) ?? pair
  }
}
