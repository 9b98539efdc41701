import { createHash } from 'node:crypto'
import type { RedisConnection } from '../../gateway/store/redis-connection.js'
import type { EnsState, StoredDevice, StoredKey, Subscription } from './ens-state.js'

/**
 * ENS's state on Redis. Every key name of ENS is here, under the store's prefix:
 * `ens:key:{user}` (current pair), `ens:key:{user}:{keyId}` (retired, with a TTL), `ens:sub:{handle}`
 * and the set `ens:subs`, `ens:user-sub:{user}` (current subscription), the hash `ens:devices:{user}`,
 * and `ens:seen:{user}:{device}:{sha256(item)}` (push claims, with a TTL).
 */
export class RedisEnsState implements EnsState {
  readonly #redis: RedisConnection

  constructor (redis: RedisConnection) {
    this.#redis = redis
  }

  async currentKey (userId: string): Promise<StoredKey | undefined> { return parse(await this.#get(`ens:key:${userId}`)) }
  async retiredKey (userId: string, keyId: string): Promise<StoredKey | undefined> { return parse(await this.#get(`ens:key:${userId}:${keyId}`)) }

  async addKey (userId: string, key: StoredKey, ttlSeconds: number): Promise<boolean> {
    return await this.#redis.client().set(this.#key(`ens:key:${userId}`), JSON.stringify(key), 'EX', ttlSeconds, 'NX') === 'OK'
  }

  async setCurrentKey (userId: string, key: StoredKey, ttlSeconds: number): Promise<void> { await this.#set(`ens:key:${userId}`, key, ttlSeconds) }
  async retireKey (userId: string, key: StoredKey, ttlSeconds: number): Promise<void> { await this.#set(`ens:key:${userId}:${key.keyId}`, key, ttlSeconds) }

  async subscription (handle: string): Promise<Subscription | undefined> { return parse(await this.#get(`ens:sub:${handle}`)) }

  async putSubscription (subscription: Subscription): Promise<void> {
    await this.#redis.client().multi()
      .set(this.#key(`ens:sub:${subscription.handle}`), JSON.stringify(subscription))
      .sadd(this.#key('ens:subs'), subscription.handle)
      .exec()
  }

  async removeSubscription (handle: string): Promise<void> {
    await this.#redis.client().multi().del(this.#key(`ens:sub:${handle}`)).srem(this.#key('ens:subs'), handle).exec()
  }

  async subscriptionHandles (): Promise<string[]> { return await this.#redis.client().smembers(this.#key('ens:subs')) }
  async currentSubscription (userId: string): Promise<string | undefined> { return await this.#get(`ens:user-sub:${userId}`) }
  async setCurrentSubscription (userId: string, handle: string): Promise<void> { await this.#redis.client().set(this.#key(`ens:user-sub:${userId}`), handle) }

  async devices (userId: string): Promise<StoredDevice[]> {
    return Object.values(await this.#redis.client().hgetall(this.#key(`ens:devices:${userId}`))).map(v => JSON.parse(v) as StoredDevice)
  }

  async device (userId: string, deviceId: string): Promise<StoredDevice | undefined> {
    return parse(await this.#redis.client().hget(this.#key(`ens:devices:${userId}`), deviceId) ?? undefined)
  }

  async putDevice (userId: string, device: StoredDevice): Promise<void> { await this.#redis.client().hset(this.#key(`ens:devices:${userId}`), device.id, JSON.stringify(device)) }
  async removeDevice (userId: string, deviceId: string): Promise<void> { await this.#redis.client().hdel(this.#key(`ens:devices:${userId}`), deviceId) }
  async removeDevices (userId: string): Promise<void> { await this.#redis.client().del(this.#key(`ens:devices:${userId}`)) }

  async claimPush (userId: string, deviceId: string, itemId: string, ttlSeconds: number): Promise<boolean> {
    return await this.#redis.client().set(this.#key(seenKey(userId, deviceId, itemId)), '1', 'EX', ttlSeconds, 'NX') === 'OK'
  }

  async releasePush (userId: string, deviceId: string, itemId: string): Promise<void> { await this.#redis.client().del(this.#key(seenKey(userId, deviceId, itemId))) }

  #key (name: string): string { return this.#redis.prefix + name }
  async #get (name: string): Promise<string | undefined> { return await this.#redis.client().get(this.#key(name)) ?? undefined }
  async #set (name: string, value: object, ttlSeconds: number): Promise<void> { await this.#redis.client().set(this.#key(name), JSON.stringify(value), 'EX', ttlSeconds) }
}

function parse<T> (json: string | undefined): T | undefined {
  return json ? JSON.parse(json) as T : undefined
}

/** Item ids are long and opaque, so they are hashed into the key. */
function seenKey (userId: string, deviceId: string, itemId: string): string {
  return `ens:seen:${userId}:${deviceId}:${createHash('sha256').update(itemId).digest('base64url')}`
}
