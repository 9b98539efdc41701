import { createHmac, randomBytes } from 'node:crypto'

/** What protection identifies a Basic credential by: keyed fingerprints, never the password or an unkeyed hash of it. */
export interface CredentialPrints {
  /** HMAC(key, account, password): this account's credential. */
  cred: string
  /** HMAC(key, password): the password alone, for spray detection (one password tried for many accounts). */
  pw: string
}

/**
 * HMAC-SHA-256 under a key from the environment (`protection.keyEnv`), so a dump of the store or the
 * logs cannot be tested against password lists without the key. Domain-separated inputs: a credential
 * fingerprint can never equal a password fingerprint.
 */
export class Fingerprints {
  readonly #key: Buffer

  constructor (key: Buffer) {
    this.#key = key
  }

  /** Of a Basic credential's account (lower-case account name) and password. */
  of (account: string, password: string): CredentialPrints {
    return {
      cred: createHmac('sha256', this.#key).update('cred\u0000').update(account).update('\u0000').update(password).digest('base64url'),
      pw: createHmac('sha256', this.#key).update('pw\u0000').update(password).digest('base64url')
    }
  }
}

/** The key from its variable (base64, at least 32 bytes); undefined when unset. Throws when it is too short. */
export function fingerprintKey (value: string | undefined): Buffer | undefined {
  if (value === undefined || value === '') return undefined
  const key = Buffer.from(value, 'base64')
  if (key.length < 32) throw new Error('the protection key must be at least 32 random bytes, base64')
  return key
}

export function randomFingerprintKey (): Buffer {
  return randomBytes(32)
}

/** The password of a Basic Authorization header (the user is parsed by gateway/protocols/authorization.ts). */
export function basicPassword (authorization: string | undefined): string | undefined {
  if (!authorization || !/^basic /i.test(authorization)) return undefined
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon === -1 ? undefined : decoded.slice(colon + 1)
}
