import { constants, createCipheriv, createPrivateKey, type KeyObject, createDecipheriv, createHash, generateKeyPair, privateDecrypt, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { GatewayError } from '../gateway/errors/catalogue.js'

const generateKeyPairAsync = promisify(generateKeyPair)

/**
 * ENS cryptography on Node's own OpenSSL: RSA-2048 per user, RSA-OAEP with SHA-256 for the device's
 * credentials (0.3 ms per private decrypt here, against 22 ms in node-forge; PKCS#1 v1.5 is refused by
 * Node and would make /notify a padding oracle), private keys wrapped with AES-256-GCM under the master key.
 */
export interface UserKeyPair {
  keyId: string
  publicKeyPem: string
  /** base64: iv(12) | tag(16) | AES-256-GCM(PKCS#8 DER) under the master key. */
  wrappedPrivateKey: string
}

export async function createUserKeyPair (masterKey: Buffer): Promise<UserKeyPair> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' }
  })
  return { keyId: randomBytes(8).toString('hex'), publicKeyPem: publicKey, wrappedPrivateKey: wrap(privateKey, masterKey) }
}

function wrap (der: Buffer, masterKey: Buffer): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv)
  const sealed = Buffer.concat([cipher.update(der), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64')
}

function unwrap (wrapped: string, masterKey: Buffer): Buffer {
  const raw = Buffer.from(wrapped, 'base64')
  const decipher = createDecipheriv('aes-256-gcm', masterKey, raw.subarray(0, 12))
  decipher.setAuthTag(raw.subarray(12, 28))
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()])
}

/** One error for every way decryption can fail: callers must not tell them apart (no oracle). */
export class CredentialsError extends GatewayError {
  constructor (options?: { cause?: unknown }) {
    super('GW_ENS_UNDECRYPTABLE', 'credentials could not be decrypted', options)
  }
}

export interface Credentials {
  user: string
  password: string
}

/** Unwraps a stored private key into a KeyObject (parsing it costs ~1 ms here; callers cache the object). */
export function unwrapPrivateKey (wrappedPrivateKey: string, masterKey: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: unwrap(wrappedPrivateKey, masterKey), format: 'der', type: 'pkcs8' })
  } catch {
    throw new CredentialsError()
  }
}

/** Decrypts base64url(RSA-OAEP-SHA256("user:password")). The result lives only in the caller's scope. */
export function decryptCredentials (ciphertext: string, key: KeyObject): Credentials {
  try {
    const plain = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(ciphertext, 'base64url')).toString('utf8')
    const colon = plain.indexOf(':')
    if (colon <= 0) throw new CredentialsError()
    return { user: plain.slice(0, colon), password: plain.slice(colon + 1) }
  } catch {
    throw new CredentialsError()
  }
}

/** The master key from its environment variable: 32 random bytes, base64. */
export function parseMasterKey (value: string | undefined): Buffer | undefined {
  if (!value) return undefined
  const key = Buffer.from(value, 'base64')
  if (key.length !== 32) throw new Error('the ENS master key must be 32 bytes, base64-encoded')
  return key
}

/** Per-subscription secrets are stored as hashes and compared in constant time. */
export function hashSecret (secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export function secretMatches (secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex')
  const b = Buffer.from(storedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}
