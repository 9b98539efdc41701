import { createHash, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'
import type { Logger } from '../gateway/observability/log.js'
import type { Metrics } from '../gateway/observability/metrics.js'
import type { UpstreamPool } from '../gateway/upstream/pool.js'
import { createUserKeyPair, CredentialsError, decryptCredentials, hashSecret, secretMatches, unwrapPrivateKey, type Credentials } from './crypto.js'
import { EwsAuthError, EwsMailboxError, EwsUnavailableError, subscribeInbox } from './ews-client.js'
import type { EwsTarget } from './ews-http.js'
import { fetchSubjectAndSender } from './ews-get-item.js'
import { EnsKeys, type StoredKey } from './keys.js'
import type { PushDevice, PushMessage, PushProvider } from './push/types.js'
import type { EnsState, StoredDevice, Subscription } from './state/ens-state.js'
import type { SendNotification } from './send-notification.js'
import { MAX_BODY_BYTES, MAX_TITLE_BYTES, truncateUtf8 } from './push/text.js'

export interface EnsSettings {
  callbackBase: string
  ewsPath: string
  statusFrequencyMinutes: number
  payload: 'full' | 'minimal'
  masterKey: Buffer
  /** A key older than this is replaced when a device next asks for it. */
  keyMaxAgeDays: number
  /** How long a replaced key still decrypts the subscriptions made with it. */
  retiredKeyDays: number
}

export type { Subscription }

/** A domain outcome, not an HTTP answer: the routes turn a refusal's catalogue code into one. */
export type SubscribeOutcome = { created: true, subscriptionId: string } | { refused: SubscribeRefusal, detail?: string }
export type SubscribeRefusal = 'GW_ENS_MAILBOX_REFUSED' | 'GW_ENS_UNKNOWN_KEY' | 'GW_ENS_BAD_REQUEST' | 'GW_ENS_UNDECRYPTABLE' | 'GW_ENS_EWS_UNAUTHORIZED' | 'GW_ENS_EWS_UNAVAILABLE'

/** One answer for "not your mailbox", whichever check found it (no oracle on who owns what). */
const NOT_YOUR_MAILBOX: SubscribeOutcome = { refused: 'GW_ENS_MAILBOX_REFUSED' }
export type NotifyOutcome = { answer: 'OK' | 'Unsubscribe' } | { retry: string }

/**
 * The e-mail notification service: per-user keys, push subscriptions whose callback URL carries the
 * device's encrypted credentials, and the notify path that turns Exchange's callback into pushes.
 * Nothing here stores a password, `user:password` or the encrypted credentials: they arrive, are used
 * in memory for one EWS call, and are gone.
 */
export class EnsService {
  readonly #state: EnsState
  readonly #ews: EwsTarget
  readonly #providers: Map<string, PushProvider>
  readonly #settings: EnsSettings
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #keys: EnsKeys
  readonly #unwrapped = new Map<string, { key: KeyObject, at: number }>()

  constructor (state: EnsState, pool: UpstreamPool, providers: PushProvider[], settings: EnsSettings, metrics: Metrics, log: Logger) {
    this.#state = state
    // Through the pool: the proxy's server choice, failover, retry budget and backoff (one attempt policy).
    this.#ews = { path: settings.ewsPath, timeoutMs: pool.config.connectTimeoutMs + 10_000, send: request => pool.request(request) }
    this.#providers = new Map(providers.map(p => [p.name, p]))
    this.#settings = settings
    this.#metrics = metrics
    this.#log = log
    this.#keys = new EnsKeys(state)
  }

  /** Whether the user has a key already (asking for it again costs nothing: no rate limit). */
  async hasKey (userId: string): Promise<boolean> {
    return await this.#keys.get(userId) !== undefined
  }

  /** The user's public key, created on first request and kept until rotated (by age or by an admin). */
  async publicKey (userId: string): Promise<StoredKey> {
    const existing = await this.#keys.get(userId)
    if (existing && Date.now() - Date.parse(existing.createdAt) < this.#settings.keyMaxAgeDays * 86_400_000) return existing
    if (existing) return (await this.rotateKey(userId, { revoke: false })).key
    return this.#keys.putIfAbsent(userId, await this.#newKey()) // two gateways racing: both answer with the winner
  }

  /**
   * Replaces the user's key. The old one keeps decrypting existing subscriptions for `retiredKeyDays`,
   * unless `revoke` (a suspected compromise): then those subscriptions get a silent push asking their
   * devices to subscribe again, at their next notification (on every gateway within five minutes).
   */
  async rotateKey (userId: string, { revoke }: { revoke: boolean }): Promise<{ key: StoredKey, retired?: string }> {
    const key = await this.#newKey()
    const { retired } = await this.#keys.rotate(userId, key, revoke ? 0 : this.#settings.retiredKeyDays * 86_400)
    if (retired && revoke) this.#unwrapped.delete(`${userId}:${retired}`)
    this.#log.info({ userId, keyId: key.keyId, retired, revoked: revoke }, 'ENS key rotated')
    return { key, ...(retired ? { retired } : {}) }
  }

  async #newKey (): Promise<StoredKey> {
    return { ...await createUserKeyPair(this.#settings.masterKey), createdAt: new Date().toISOString() }
  }

  /**
   * Subscribes `device` to the mailbox `emailAddress`, which must be the one `userId` names (its
   * SHA-256) and the one the credentials open: the Subscribe names that mailbox, so Exchange refuses
   * credentials that cannot open it (ErrorAccessDenied). A lookup that anyone may make about anyone
   * (ResolveNames) would prove nothing; only Exchange's refusal does.
   */
  async subscribe (userId: string, keyId: string, ciphertext: string, emailAddress: string, device: PushDevice): Promise<SubscribeOutcome> {
    if (mailboxUserId(emailAddress) !== userId) return this.#subscribed('mailbox_refused', NOT_YOUR_MAILBOX)
    const privateKey = await this.#privateKey(userId, keyId)
    if (!privateKey) return this.#subscribed('unknown_key', { refused: 'GW_ENS_UNKNOWN_KEY' })
    if (!this.#providers.has(device.platform)) return this.#subscribed('bad_request', { refused: 'GW_ENS_BAD_REQUEST', detail: `push platform ${device.platform} is not configured` })
    let credentials: Credentials
    try {
      credentials = decryptCredentials(ciphertext, privateKey)
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err
      return this.#subscribed('undecryptable', { refused: 'GW_ENS_UNDECRYPTABLE' })
    }
    const handle = randomBytes(16).toString('hex')
    const secret = randomBytes(24).toString('base64url')
    const callback = `${this.#settings.callbackBase}/api/ens/notify?id=${handle}&s=${secret}&creds=${encodeURIComponent(ciphertext)}`
    let result: { subscriptionId: string, watermark: string }
    try {
      result = await subscribeInbox(this.#ews, credentials, emailAddress.toLowerCase(), callback, this.#settings.statusFrequencyMinutes)
    } catch (err) {
      if (err instanceof EwsAuthError) return this.#subscribed('unauthorized', { refused: 'GW_ENS_EWS_UNAUTHORIZED' })
      if (err instanceof EwsMailboxError) return this.#subscribed('mailbox_refused', NOT_YOUR_MAILBOX)
      if (err instanceof EwsUnavailableError) return this.#subscribed('ews_unavailable', { refused: 'GW_ENS_EWS_UNAVAILABLE' })
      throw err
    }
    const account = sha256(credentials.user.toLowerCase())
    const subscription: Subscription = { handle, userId, account, keyId, secretHash: hashSecret(secret), subscriptionId: result.subscriptionId, watermark: result.watermark, lastHeartbeat: Date.now() }
    const previous = await this.#subscription(await this.#state.currentSubscription(userId) ?? '')
    // Other credentials (a delegate with FullAccess, say) start a list of their own: no device is inherited.
    if (previous && previous.account !== account) await this.#state.removeDevices(userId)
    await this.#state.putSubscription(subscription)
    await this.#state.setCurrentSubscription(userId, handle) // older subscriptions get Unsubscribe
    const stored: StoredDevice = { ...device, handleHash: sha256(handle) }
    await this.#state.putDevice(userId, stored)
    await this.#keys.keep(userId, keyId)
    this.#log.info({ userId, deviceId: device.id, platform: device.platform }, 'ENS subscription created')
    return this.#subscribed('created', { created: true, subscriptionId: handle })
  }

  /**
   * Removes a device, given the subscription id it got at subscribe (a bearer secret only that device
   * and Exchange's callback URL know). Unknown and foreign devices are answered alike: false.
   */
  async unsubscribe (userId: string, deviceId: string, subscriptionId: string): Promise<boolean> {
    const device = await this.#state.device(userId, deviceId)
    if (!device?.handleHash || !secretEquals(device.handleHash, sha256(subscriptionId))) return false
    await this.#state.removeDevice(userId, deviceId)
    this.#log.info({ userId, deviceId }, 'ENS device unsubscribed')
    return true
  }

  /** The subscription a callback names, when its secret matches; anything else is nobody's. */
  async authenticate (handle: string, secret: string): Promise<Subscription | undefined> {
    const subscription = await this.#subscription(handle)
    return subscription && secretMatches(secret, subscription.secretHash) ? subscription : undefined
  }

  async #subscription (handle: string): Promise<Subscription | undefined> {
    if (!/^[0-9a-f]{32}$/.test(handle)) return undefined
    return await this.#state.subscription(handle)
  }

  /**
   * Exchange's SendNotification. Unknown subscription, wrong secret, a superseded subscription, no
   * devices left or credentials that do not decrypt: Unsubscribe (one answer for all, no oracle). A
   * transient EWS or push failure: `retry`, answered so that Exchange delivers again.
   */
  async notify (subscription: Subscription | undefined, ciphertext: string, notification: SendNotification): Promise<NotifyOutcome> {
    const event = notification.events.some(e => e.type === 'NewMailEvent' || e.type === 'CreatedEvent') ? 'newmail' : notification.responseClass === 'Error' ? 'error' : 'status'
    const outcome = await this.#notify(subscription, ciphertext, notification)
    const result = 'retry' in outcome ? 'retry' : outcome.answer === 'OK' ? 'ok' : 'unsubscribe'
    this.#metrics.ensNotifications.inc({ event, result })
    return outcome
  }

  async #notify (subscription: Subscription | undefined, ciphertext: string, notification: SendNotification): Promise<NotifyOutcome> {
    if (!subscription) return UNSUBSCRIBE
    // Exchange names the subscription it calls for: another one (orphaned, or someone else's) is ended
    // at Exchange, and ours is left alone.
    if (notification.subscriptionId !== subscription.subscriptionId) return UNSUBSCRIBE
    if (await this.#state.currentSubscription(subscription.userId) !== subscription.handle) return this.#end(subscription)
    const devices = await this.#devices(subscription.userId)
    if (devices.length === 0) return this.#end(subscription)
    if (notification.responseClass === 'Error') {
      // ErrorReadEventsFailed and friends: the subscription is broken and must be recreated by the device.
      await this.#pushAll(subscription.userId, devices, { kind: 'silent', reason: 'resubscribe' })
      return this.#end(subscription)
    }
    await this.#recordHeartbeat(subscription)
    const itemIds = [...new Set(notification.events.filter(e => (e.type === 'NewMailEvent' || e.type === 'CreatedEvent') && e.itemId).map(e => e.itemId as string))]
    if (itemIds.length === 0) return OK // a heartbeat (StatusEvent)
    const key = await this.#privateKey(subscription.userId, subscription.keyId)
    if (!key) { // rotated out (revoked, or its grace period ended): the devices must subscribe with the new key
      await this.#pushAll(subscription.userId, devices, { kind: 'silent', reason: 'resubscribe' })
      return this.#end(subscription)
    }
    let credentials: Credentials | undefined
    try {
      credentials = decryptCredentials(ciphertext, key)
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err
      return UNSUBSCRIBE // tampered or undecryptable: no EWS call, no push
    }
    for (const itemId of itemIds) {
      let message: PushMessage = { kind: 'mail', itemId }
      const pending = await this.#pendingDevices(subscription.userId, itemId, devices)
      if (pending.length === 0) continue // a redelivery or the Created half of a Created+NewMail pair
      if (this.#settings.payload === 'full') {
        try {
          const item = await fetchSubjectAndSender(this.#ews, credentials, itemId)
          if (item.kind === 'item') message = { kind: 'mail', itemId, subject: truncateUtf8(item.subject, MAX_BODY_BYTES), from: truncateUtf8(item.from, MAX_TITLE_BYTES) }
          // The mail arrived but Exchange cannot show it (moved or deleted already, ...): push it without text.
          else this.#log.info({ userId: subscription.userId, code: item.code }, 'ENS GetItem found no item: pushing without subject')
        } catch (err) {
          if (err instanceof EwsAuthError) { // the password changed: the device must subscribe again
            await this.#pushAll(subscription.userId, devices, { kind: 'silent', reason: 'resubscribe' })
            return this.#end(subscription)
          }
          if (err instanceof EwsUnavailableError) {
            await this.#release(subscription.userId, itemId, pending) // so that Exchange's redelivery pushes
            return { retry: 'EWS unavailable' }
          }
          throw err
        }
      }
      const { failed, gone } = await this.#pushAll(subscription.userId, pending, message, itemId)
      if (failed > 0) return { retry: `${failed} push(es) failed` }
      if (gone > 0 && (await this.#devices(subscription.userId)).length === 0) return this.#end(subscription)
    }
    return OK
  }

  /**
   * Claims the item for each device (SET NX, so two gateways receiving the same redelivery push once);
   * a failed push releases its claim, so Exchange's redelivery retries only the devices that missed it.
   */
  async #pendingDevices (userId: string, itemId: string, devices: PushDevice[]): Promise<PushDevice[]> {
    const pending: PushDevice[] = []
    for (const d of devices) if (await this.#state.claimPush(userId, d.id, itemId, 86_400)) pending.push(d)
    return pending
  }

  /** Gives up the de-duplication claims of `devices` on an item, so a redelivery of it pushes to them. */
  async #release (userId: string, itemId: string, devices: PushDevice[]): Promise<void> {
    for (const d of devices) await this.#state.releasePush(userId, d.id, itemId)
  }

  /** Pushes to every device; removes dead tokens; counts transient failures and removed devices. */
  async #pushAll (userId: string, devices: PushDevice[], message: PushMessage, itemId?: string): Promise<{ failed: number, gone: number }> {
    let failed = 0
    let gone = 0
    await Promise.all(devices.map(async device => {
      const provider = this.#providers.get(device.platform)
      const result = provider ? await provider.send(device, message) : 'gone'
      this.#metrics.ensPush.inc({ provider: device.platform, result })
      if (result === 'gone') {
        gone++
        await this.#state.removeDevice(userId, device.id)
        this.#log.info({ userId, deviceId: device.id, platform: device.platform }, 'ENS push token rejected: device removed')
      } else if (result === 'refused') {
        this.#log.warn({ userId, deviceId: device.id, platform: device.platform }, 'ENS push refused by the provider as malformed: not retried')
      } else if (result === 'retry') {
        failed++
        if (itemId) await this.#release(userId, itemId, [device])
      }
    }))
    return { failed, gone }
  }

  async #devices (userId: string): Promise<PushDevice[]> {
    return await this.#state.devices(userId)
  }

  async #end (subscription: Subscription): Promise<NotifyOutcome> {
    await this.#state.removeSubscription(subscription.handle)
    return UNSUBSCRIBE
  }

  /**
   * Heartbeat watchdog: a subscription silent for 2 × StatusFrequency has been lost by Exchange;
   * its devices get a silent push asking them to subscribe again (once per overdue period).
   */
  async checkHeartbeats (now = Date.now()): Promise<number> {
    const overdueMs = 2 * this.#settings.statusFrequencyMinutes * 60_000
    let nudged = 0
    for (const handle of await this.#state.subscriptionHandles()) {
      const sub = await this.#state.subscription(handle)
      if (!sub) {
        await this.#state.removeSubscription(handle)
        continue
      }
      if (now - sub.lastHeartbeat < overdueMs || (sub.lastNudge !== undefined && now - sub.lastNudge < overdueMs)) continue
      await this.#pushAll(sub.userId, await this.#devices(sub.userId), { kind: 'silent', reason: 'resubscribe' })
      sub.lastNudge = now
      await this.#state.putSubscription(sub)
      this.#metrics.ensNotifications.inc({ event: 'heartbeat_overdue', result: 'resubscribe_push' })
      nudged++
    }
    return nudged
  }

  /**
   * The user's private key `keyId`, unwrapped. Unwrapped keys are kept in this process's memory only
   * (never stored unwrapped), so the stored pair is read and unwrapped once, not per notification.
   */
  async #privateKey (userId: string, keyId: string): Promise<KeyObject | undefined> {
    const id = `${userId}:${keyId}`
    const cached = this.#unwrapped.get(id)
    if (cached && Date.now() - cached.at < UNWRAPPED_KEY_TTL_MS) return cached.key
    const pair = await this.#keys.find(userId, keyId)
    if (!pair) {
      this.#unwrapped.delete(id)
      return undefined
    }
    const key = unwrapPrivateKey(pair.wrappedPrivateKey, this.#settings.masterKey)
    if (this.#unwrapped.size >= 10_000) this.#unwrapped.clear()
    this.#unwrapped.set(id, { key, at: Date.now() })
    return key
  }

  /**
   * Exchange is alive for this subscription. Written at most once a minute: the watchdog's threshold is
   * 2 × StatusFrequency, and a store write per notification would cost a Redis round trip each.
   */
  async #recordHeartbeat (subscription: Subscription): Promise<void> {
    const now = Date.now()
    if (now - subscription.lastHeartbeat < 60_000 && subscription.lastNudge === undefined) return
    subscription.lastHeartbeat = now
    delete subscription.lastNudge
    await this.#state.putSubscription(subscription)
  }

  #subscribed (result: string, outcome: SubscribeOutcome): SubscribeOutcome {
    this.#metrics.ensSubscriptions.inc({ result })
    return outcome
  }

  async close (): Promise<void> {
    await Promise.all([...this.#providers.values()].map(p => p.close()))
  }
}

/** userId as devices compute it: hex SHA-256 of the lower-case address. */
function mailboxUserId (emailAddress: string): string {
  return sha256(emailAddress.toLowerCase())
}

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function secretEquals (a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/** A revoked key stops working on every gateway within this time (each re-reads the store after it). */
const UNWRAPPED_KEY_TTL_MS = 5 * 60_000

const OK: NotifyOutcome = { answer: 'OK' }
const UNSUBSCRIBE: NotifyOutcome = { answer: 'Unsubscribe' }
