import { createPrivateKey, sign, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'undici'
import type { PushDevice, PushMessage, PushProvider, PushResult } from './types.js'

interface ServiceAccount {
  project_id: string
  client_email: string
  private_key: string
  token_uri?: string
}

/**
 * FCM HTTP v1: a service account's RS256 JWT is exchanged for an OAuth2 access token (cached until a
 * minute before it expires), then one `messages:send` per device. Written on undici rather than
 * firebase-admin, which needs Node 22 and brings 37 MB for two HTTP calls.
 */
export class FcmProvider implements PushProvider {
  readonly name = 'fcm'
  readonly #account: ServiceAccount
  readonly #key: KeyObject
  readonly #endpoint: string
  #token: { value: string, expires: number } | undefined

  constructor (serviceAccountFile: string, endpoint = 'https://fcm.googleapis.com') {
    this.#account = JSON.parse(readFileSync(serviceAccountFile, 'utf8')) as ServiceAccount
    this.#key = createPrivateKey(this.#account.private_key)
    this.#endpoint = endpoint
  }

  async #accessToken (): Promise<string> {
    if (this.#token && Date.now() < this.#token.expires) return this.#token.value
    const tokenUri = this.#account.token_uri ?? 'https://oauth2.googleapis.com/token'
    const now = Math.floor(Date.now() / 1000)
    const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const unsigned = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: this.#account.client_email, scope: 'https://www.googleapis.com/auth/firebase.messaging', aud: tokenUri, iat: now, exp: now + 3600 })}`
    const assertion = `${unsigned}.${sign('sha256', Buffer.from(unsigned), this.#key).toString('base64url')}`
    const res = await request(tokenUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString()
    })
    const json = await res.body.json() as { access_token?: string, expires_in?: number }
    if (res.statusCode !== 200 || !json.access_token) throw new Error(`FCM token endpoint answered ${res.statusCode}`)
    this.#token = { value: json.access_token, expires: Date.now() + ((json.expires_in ?? 3600) - 60) * 1000 }
    return this.#token.value
  }

  async send (device: PushDevice, message: PushMessage): Promise<PushResult> {
    try {
      const token = await this.#accessToken()
      const body = message.kind === 'silent'
        ? { message: { token: device.token, data: { action: 'resubscribe' }, android: { priority: 'high' } } }
        : { message: { token: device.token, ...(message.subject !== undefined ? { notification: { title: message.from ?? '', body: message.subject } } : {}), data: { itemId: message.itemId }, android: { priority: 'high' } } }
      const res = await request(`${this.#endpoint}/v1/projects/${this.#account.project_id}/messages:send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        headersTimeout: 10_000,
        bodyTimeout: 10_000
      })
      const text = await res.body.text()
      if (res.statusCode === 200) return 'sent'
      // Only a verdict on the token removes the device: 404 or UNREGISTERED. INVALID_ARGUMENT is also
      // what FCM says of a malformed message, which is no reason to forget the phone.
      if (res.statusCode === 404 || /"UNREGISTERED"/.test(text)) return 'gone'
      if (res.statusCode === 400 && /INVALID_ARGUMENT/.test(text)) return 'refused'
      if (res.statusCode === 401) this.#token = undefined
      return 'retry'
    } catch {
      return 'retry'
    }
  }

  async close (): Promise<void> {}
}
