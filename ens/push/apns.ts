import { connect, constants, type ClientHttp2Session } from 'node:http2'
import { createPrivateKey, sign, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { PushDevice, PushMessage, PushProvider, PushResult } from './types.js'

export interface ApnsOptions {
  keyFile: string
  keyId: string
  teamId: string
  topic: string
  /** https:// for Apple (system CAs or caFile); http:// means cleartext HTTP/2, for tests and the lab. */
  endpoint: string
  caFile?: string | undefined
}

/** Apple allows a provider token for an hour; refresh well before (apns2 uses 55 min). */
const TOKEN_LIFETIME_MS = 50 * 60 * 1000

/**
 * APNs over HTTP/2 with token authentication: an ES256 JWT from the .p8 key (kid = key id, iss = team
 * id), one long-lived HTTP/2 connection, reconnecting when it drops.
 */
export class ApnsProvider implements PushProvider {
  readonly name = 'apns'
  readonly #options: ApnsOptions
  readonly #key: KeyObject
  #session: ClientHttp2Session | undefined
  #jwt: { token: string, at: number } | undefined

  constructor (options: ApnsOptions) {
    this.#options = options
    this.#key = createPrivateKey(readFileSync(options.keyFile))
  }

  providerToken (): string {
    if (this.#jwt && Date.now() - this.#jwt.at < TOKEN_LIFETIME_MS) return this.#jwt.token
    const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const unsigned = `${b64({ alg: 'ES256', kid: this.#options.keyId })}.${b64({ iss: this.#options.teamId, iat: Math.floor(Date.now() / 1000) })}`
    const signature = sign('sha256', Buffer.from(unsigned), { key: this.#key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
    this.#jwt = { token: `${unsigned}.${signature}`, at: Date.now() }
    return this.#jwt.token
  }

  #connection (): ClientHttp2Session {
    if (this.#session && !this.#session.closed && !this.#session.destroyed) return this.#session
    const ca = this.#options.caFile ? readFileSync(this.#options.caFile) : undefined
    const url = new URL(this.#options.endpoint)
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
    // HEADERS and DATA go out as separate writes: without noDelay, Nagle holds the DATA frame for the
    // peer's delayed ACK (~40 ms per push, measured), so the connection is made here.
    const session = connect(this.#options.endpoint, {
      createConnection: () => {
        const socket = url.protocol === 'https:'
          ? tlsConnect({ host: url.hostname, port, servername: url.hostname, ALPNProtocols: ['h2'], ...(ca ? { ca } : {}) })
          : netConnect({ host: url.hostname, port })
        socket.setNoDelay(true)
        return socket
      }
    })
    session.on('error', () => {})
    session.on('close', () => { if (this.#session === session) this.#session = undefined })
    session.unref()
    this.#session = session
    return session
  }

  send (device: PushDevice, message: PushMessage): Promise<PushResult> {
    const silent = message.kind === 'silent'
    const payload = silent
      ? { aps: { 'content-available': 1 }, ens: { action: 'resubscribe' } }
      : { aps: { alert: message.subject !== undefined ? { title: message.from ?? '', body: message.subject } : { body: 'New mail' }, sound: 'default', 'mutable-content': 1 }, ens: { itemId: message.itemId } }
    const body = JSON.stringify(payload)
    return new Promise(resolve => {
      let stream
      try {
        stream = this.#connection().request({
          [constants.HTTP2_HEADER_METHOD]: 'POST',
          [constants.HTTP2_HEADER_PATH]: `/3/device/${encodeURIComponent(device.token)}`,
          authorization: `bearer ${this.providerToken()}`,
          'apns-topic': this.#options.topic,
          'apns-push-type': silent ? 'background' : 'alert',
          'apns-priority': silent ? '5' : '10',
          'apns-expiration': String(Math.floor(Date.now() / 1000) + 3600),
          ...(silent ? {} : { 'apns-collapse-id': message.itemId.slice(-64) }),
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body)
        })
      } catch {
        return resolve('retry')
      }
      let status = 0
      let text = ''
      stream.setEncoding('utf8')
      stream.on('response', headers => { status = Number(headers[constants.HTTP2_HEADER_STATUS]) })
      stream.on('data', (chunk: string) => { text += chunk })
      stream.on('end', () => {
        const result = verdict(status, text)
        if (status === 403) this.#jwt = undefined // Expired/InvalidProviderToken: sign a fresh one for the retry
        resolve(result)
      })
      stream.on('error', () => resolve('retry'))
      stream.setTimeout(10_000, () => { stream.close(constants.NGHTTP2_CANCEL); resolve('retry') })
      stream.end(body)
    })
  }

  async close (): Promise<void> {
    this.#session?.close()
  }
}

/**
 * Only what Apple says about the token removes a device: 410 Unregistered, 400 BadDeviceToken or
 * DeviceTokenNotForTopic. Anything else (403 provider-token trouble, 429, 5xx, a bad topic in our config)
 * is not the device's fault: retried, counted, never a reason to forget the device.
 */
function verdict (status: number, body: string): PushResult {
  if (status === 200) return 'sent'
  if (status === 410) return 'gone'
  const reason = (() => { try { return (JSON.parse(body) as { reason?: string }).reason } catch { return undefined } })()
  if (status === 400 && (reason === 'BadDeviceToken' || reason === 'DeviceTokenNotForTopic')) return 'gone'
  if (status === 413 || (status === 400 && MALFORMED.has(reason ?? ''))) return 'refused'
  return 'retry'
}

/** APNs reasons that say this message, not the token or our configuration, is wrong. */
const MALFORMED = new Set(['PayloadEmpty', 'PayloadTooLarge', 'BadCollapseId', 'BadExpirationDate', 'BadMessageId', 'BadPriority', 'DuplicateHeaders', 'InvalidPushType'])
