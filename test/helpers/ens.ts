import { constants, createHash, publicEncrypt } from 'node:crypto'
import { send } from './http.js'

export interface EnsUser { email: string, password: string, userId: string }

export function ensUser (email: string, password: string): EnsUser {
  return { email, password, userId: createHash('sha256').update(email.toLowerCase()).digest('hex') }
}

/** What a device does: fetch the user's public key, encrypt `user:password` to it (RSA-OAEP-256), subscribe. */
export async function subscribeDevice (gatewayUrl: string, user: EnsUser, device: Record<string, string>, options: { base?: string, headers?: Record<string, string>, password?: string } = {}): Promise<{ status: number, keyId: string, ciphertext: string, body: Record<string, unknown> }> {
  const base = `${gatewayUrl}${options.base ?? '/api/ens'}`
  const headers = { 'content-type': 'application/json', ...options.headers }
  const key = JSON.parse((await send(`${base}/publickey`, { method: 'POST', body: JSON.stringify({ userId: user.userId }), headers })).body.toString()) as { keyId: string, publicKey: string }
  const ciphertext = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(`${user.email}:${options.password ?? user.password}`)).toString('base64url')
  const res = await send(`${base}/subscribe`, { method: 'POST', body: JSON.stringify({ userId: user.userId, keyId: key.keyId, credentials: ciphertext, emailAddress: user.email, device }), headers })
  return { status: res.status, keyId: key.keyId, ciphertext, body: res.body.length ? JSON.parse(res.body.toString()) as Record<string, unknown> : {} }
}
