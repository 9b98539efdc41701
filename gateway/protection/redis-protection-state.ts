import { randomBytes } from 'node:crypto'
import type { RedisConnection } from '../store/redis-connection.js'
import { GOOD_CREDENTIALS_KEPT, remember, REMEMBER_SECONDS, type AttemptKeys, type AttemptView, type Familiarity, type GoodCredential, type ProtectionSnapshot, type ProtectionState } from './protection-state.js'

/**
 * Protection's state on Redis, shared by every gateway on it. Every key name is here, under the
 * store's prefix (`cred` and `pw` are keyed fingerprints, never a credential):
 *
 * | key | type | what |
 * |---|---|---|
 * | `prot:bad:{cred}` | string (TTL) | a refused credential: account and since when |
 * | `prot:user-bad:{account}` | set (TTL) | the account's refused credentials (for unlock) |
 * | `prot:retry:{cred}` | string (TTL) | the one retry of a refused credential per interval |
 * | `prot:good:{account}` | string (TTL 30 d) | last credentials that succeeded, with times |
 * | `prot:familiar:{account}` | string (TTL 30 d) | devices and networks that succeeded (FIFO) |
 * | `prot:fail:{account}:{traffic}` | sorted set (TTL) | failures that reached the directory, by time |
 * | `prot:client-fail:{client}` | sorted set (TTL) | accounts failing from a client network |
 * | `prot:pw-fail:{pw}` | sorted set (TTL) | accounts a password failed for |
 * | `prot:lock:{kind}:{id}` | string (PX) | a lock or ban, until when; `prot:locks:{kind}:{id}` counts repeats |
 * | `prot:pw-blocked:{pw}` | string (TTL) | a sprayed password |
 * | `prot:stale:{account}` | hash | stale devices, since when |
 * | `prot:rate:{kind}:{id}` | string (PX) | a rate limit's token bucket (the time its next token is due) |
 * | `prot:index:locks`, `prot:index:passwords`, `prot:index:stale` | sorted sets | for the admin list |
 *
 * Window counters are one MULTI each (add, trim, count, expire): two gateways counting at once see
 * every failure.
 */
export class RedisProtectionState implements ProtectionState {
  readonly #redis: RedisConnection

  constructor (redis: RedisConnection) {
    this.#redis = redis
  }

  async view (keys: AttemptKeys): Promise<AttemptView> {
    const { account, client, cred, pw, deviceId } = keys
    const k = (name: string): string => this.#key(name)
    const read = this.#client().multi()
      .mget(k(`prot:lock:client:${client}`), pw === undefined ? k('prot:none') : k(`prot:pw-blocked:${pw}`), cred === undefined ? k('prot:none') : k(`prot:bad:${cred}`),
        k(`prot:good:${account}`), k(`prot:familiar:${account}`), k(`prot:lock:user:${account}:familiar`), k(`prot:lock:user:${account}:unfamiliar`))
      .hexists(k(`prot:stale:${account}`), deviceId ?? '')
      .exists(k(`prot:fail:${account}:familiar`), k(`prot:fail:${account}:unfamiliar`))
    const results = await read.exec()
    const [ban, blocked, bad, good, familiar, lockFamiliar, lockUnfamiliar] = (results?.[0]?.[1] ?? []) as Array<string | null>
    const now = Date.now()
    const until = (value: string | null | undefined): number | undefined => { const n = Number(value); return value && n > now ? n : undefined }
    return {
      clientBannedUntil: until(ban),
      passwordBlockedUntil: until(blocked),
      badSince: bad ? (JSON.parse(bad) as { since: number }).since : undefined,
      stale: deviceId !== undefined && results?.[1]?.[1] === 1,
      good: good ? JSON.parse(good) as GoodCredential[] : [],
      familiar: familiar ? JSON.parse(familiar) as { devices: string[], networks: string[] } : { devices: [], networks: [] },
      lockedUntil: { familiar: until(lockFamiliar), unfamiliar: until(lockUnfamiliar) },
      failing: Number(results?.[2]?.[1] ?? 0) > 0
    }
  }

  async badCredential (cred: string): Promise<number | undefined> {
    const json = await this.#client().get(this.#key(`prot:bad:${cred}`))
    return json ? (JSON.parse(json) as { since: number }).since : undefined
  }

  async markBadCredential (account: string, cred: string, ttlSeconds: number): Promise<void> {
    const since = await this.badCredential(cred) ?? Date.now()
    await this.#client().multi()
      .set(this.#key(`prot:bad:${cred}`), JSON.stringify({ account, since }), 'EX', Math.ceil(ttlSeconds))
      .sadd(this.#key(`prot:user-bad:${account}`), cred)
      .expire(this.#key(`prot:user-bad:${account}`), Math.ceil(ttlSeconds))
      .exec()
  }

  async claimRetry (cred: string, intervalSeconds: number): Promise<boolean> {
    return await this.#client().set(this.#key(`prot:retry:${cred}`), '1', 'PX', Math.max(1, Math.round(intervalSeconds * 1000)), 'NX') === 'OK'
  }

  async forgetBadCredential (account: string, cred: string): Promise<void> {
    await this.#client().multi().del(this.#key(`prot:bad:${cred}`), this.#key(`prot:retry:${cred}`)).srem(this.#key(`prot:user-bad:${account}`), cred).exec()
  }

  async recordSuccess (account: string, cred: string | undefined, deviceId: string | undefined, network: string, familiarSize: number): Promise<void> {
    const [good, known] = await Promise.all([this.goodCredentials(account), this.familiar(account)])
    const write = this.#client().multi()
    if (cred) {
      const kept = [...good.filter(g => g.cred !== cred), { cred, at: Date.now() }].slice(-GOOD_CREDENTIALS_KEPT)
      write.set(this.#key(`prot:good:${account}`), JSON.stringify(kept), 'EX', REMEMBER_SECONDS)
    }
    const familiar = { devices: remember(known.devices, deviceId, familiarSize), networks: remember(known.networks, network, familiarSize) }
    await write.set(this.#key(`prot:familiar:${account}`), JSON.stringify(familiar), 'EX', REMEMBER_SECONDS)
      .del(this.#key(`prot:fail:${account}:familiar`), this.#key(`prot:fail:${account}:unfamiliar`)) // a success resets the directory's count too
      .exec()
  }

  async goodCredentials (account: string): Promise<GoodCredential[]> {
    const json = await this.#client().get(this.#key(`prot:good:${account}`))
    return json ? JSON.parse(json) as GoodCredential[] : []
  }

  async familiar (account: string): Promise<{ devices: string[], networks: string[] }> {
    const json = await this.#client().get(this.#key(`prot:familiar:${account}`))
    return json ? JSON.parse(json) as { devices: string[], networks: string[] } : { devices: [], networks: [] }
  }

  async addUserFailure (account: string, traffic: Familiarity, windowSeconds: number): Promise<number> {
    return await this.#window(`prot:fail:${account}:${traffic}`, [randomBytes(6).toString('hex')], windowSeconds)
  }

  async userLockedUntil (account: string, traffic: Familiarity): Promise<number | undefined> { return await this.#lockedUntil(`user:${account}:${traffic}`) }
  async lockUser (account: string, traffic: Familiarity, baseSeconds: number, maxSeconds: number): Promise<number> { return await this.#lock(`user:${account}:${traffic}`, baseSeconds, maxSeconds) }

  async addClientFailure (client: string, account: string, weight: 1 | 2, windowSeconds: number): Promise<number> {
    return await this.#window(`prot:client-fail:${client}`, weight === 2 ? [account, `${account}#2`] : [account], windowSeconds)
  }

  async clientBannedUntil (client: string): Promise<number | undefined> { return await this.#lockedUntil(`client:${client}`) }
  async banClient (client: string, baseSeconds: number, maxSeconds: number): Promise<number> { return await this.#lock(`client:${client}`, baseSeconds, maxSeconds) }

  async addPasswordFailure (password: string, account: string, windowSeconds: number): Promise<number> {
    return await this.#window(`prot:pw-fail:${password}`, [account], windowSeconds)
  }

  async passwordBlockedUntil (password: string): Promise<number | undefined> {
    const until = Number(await this.#client().get(this.#key(`prot:pw-blocked:${password}`)))
    return until > Date.now() ? until : undefined
  }

  async blockPassword (password: string, ttlSeconds: number): Promise<void> {
    const until = Date.now() + ttlSeconds * 1000
    await this.#client().multi()
      .set(this.#key(`prot:pw-blocked:${password}`), String(until), 'PX', Math.round(ttlSeconds * 1000))
      .zadd(this.#key('prot:index:passwords'), until, password)
      .exec()
  }

  async markStale (account: string, deviceId: string): Promise<void> {
    const now = Date.now()
    await this.#client().multi()
      .hsetnx(this.#key(`prot:stale:${account}`), deviceId, String(now))
      .zadd(this.#key('prot:index:stale'), 'NX', now, `${account}\u0000${deviceId}`)
      .exec()
  }

  async isStale (account: string, deviceId: string): Promise<boolean> {
    return await this.#client().hexists(this.#key(`prot:stale:${account}`), deviceId) === 1
  }

  async clearStale (account: string, deviceId: string): Promise<void> {
    await this.#client().multi().hdel(this.#key(`prot:stale:${account}`), deviceId).zrem(this.#key('prot:index:stale'), `${account}\u0000${deviceId}`).exec()
  }

  async take (bucket: string, intervalMs: number, burst: number): Promise<number> {
    return Number(await this.#client().eval(GCRA, 1, this.#key(`prot:rate:${bucket}`), Date.now(), intervalMs, burst))
  }

  async snapshot (): Promise<ProtectionSnapshot> {
    const now = Date.now()
    const redis = this.#client()
    await redis.multi()
      .zremrangebyscore(this.#key('prot:index:locks'), 0, now)
      .zremrangebyscore(this.#key('prot:index:passwords'), 0, now)
      .exec()
    const [locks, passwords, stale] = await Promise.all([
      redis.zrange(this.#key('prot:index:locks'), 0, -1, 'WITHSCORES'),
      redis.zrange(this.#key('prot:index:passwords'), 0, -1, 'WITHSCORES'),
      redis.zrange(this.#key('prot:index:stale'), 0, -1, 'WITHSCORES')
    ])
    const snapshot: ProtectionSnapshot = { lockedUsers: [], bannedClients: [], staleDevices: [], refusedPasswords: [] }
    for (const [id, score] of pairs(locks)) {
      const until = new Date(score).toISOString()
      const [kind, ...rest] = id.split(':')
      if (kind === 'client') snapshot.bannedClients.push({ client: rest.join(':'), until })
      else snapshot.lockedUsers.push({ user: rest.slice(0, -1).join(':'), traffic: rest.at(-1) as Familiarity, until })
    }
    for (const [fingerprint, score] of pairs(passwords)) snapshot.refusedPasswords.push({ fingerprint: fingerprint.slice(0, 16), until: new Date(score).toISOString() })
    for (const [id, score] of pairs(stale)) {
      const [user = '', deviceId = ''] = id.split('\u0000')
      snapshot.staleDevices.push({ user, deviceId, since: new Date(score).toISOString() })
    }
    return snapshot
  }

  async unlockUser (account: string): Promise<boolean> {
    const redis = this.#client()
    const creds = await redis.smembers(this.#key(`prot:user-bad:${account}`))
    const staleDevices = await redis.hkeys(this.#key(`prot:stale:${account}`))
    const write = redis.multi()
    for (const traffic of ['familiar', 'unfamiliar']) {
      write.del(this.#key(`prot:lock:user:${account}:${traffic}`), this.#key(`prot:locks:user:${account}:${traffic}`), this.#key(`prot:fail:${account}:${traffic}`))
      write.zrem(this.#key('prot:index:locks'), `user:${account}:${traffic}`)
    }
    for (const cred of creds) write.del(this.#key(`prot:bad:${cred}`), this.#key(`prot:retry:${cred}`))
    for (const deviceId of staleDevices) write.zrem(this.#key('prot:index:stale'), `${account}\u0000${deviceId}`)
    write.del(this.#key(`prot:user-bad:${account}`), this.#key(`prot:stale:${account}`))
    const results = await write.exec()
    return (results ?? []).some(([, value]) => typeof value === 'number' && value > 0)
  }

  async unbanClient (client: string): Promise<boolean> {
    const results = await this.#client().multi()
      .del(this.#key(`prot:lock:client:${client}`))
      .del(this.#key(`prot:client-fail:${client}`))
      .zrem(this.#key('prot:index:locks'), `client:${client}`)
      .exec()
    return results?.[0]?.[1] === 1
  }

  #client (): ReturnType<RedisConnection['client']> { return this.#redis.client() }
  #key (name: string): string { return this.#redis.prefix + name }

  /** Adds members to a sliding window and counts what is inside it, in one MULTI. */
  async #window (name: string, members: string[], windowSeconds: number): Promise<number> {
    const now = Date.now()
    const key = this.#key(name)
    const write = this.#client().multi()
    for (const member of members) write.zadd(key, now, member)
    write.zremrangebyscore(key, 0, now - windowSeconds * 1000).zcard(key).pexpire(key, Math.ceil(windowSeconds * 1000))
    const results = await write.exec()
    return Number(results?.[members.length + 1]?.[1] ?? 0)
  }

  async #lockedUntil (id: string): Promise<number | undefined> {
    const until = Number(await this.#client().get(this.#key(`prot:lock:${id}`)))
    return until > Date.now() ? until : undefined
  }

  /** base × 2^(repeats), capped; repeats are counted for twice the cap. */
  async #lock (id: string, baseSeconds: number, maxSeconds: number): Promise<number> {
    const redis = this.#client()
    const counted = await redis.multi().incr(this.#key(`prot:locks:${id}`)).pexpire(this.#key(`prot:locks:${id}`), Math.round(maxSeconds * 2000)).exec()
    const count = Number(counted?.[0]?.[1] ?? 1)
    const ms = Math.round(Math.min(baseSeconds * 2 ** (count - 1), maxSeconds) * 1000)
    const until = Date.now() + ms
    await redis.multi().set(this.#key(`prot:lock:${id}`), String(until), 'PX', ms).zadd(this.#key('prot:index:locks'), until, id).exec()
    return until
  }
}

/** GCRA in one step on the server, so gateways sharing a bucket never both take its last token. */
const GCRA = `
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nextTat = tat + interval
local wait = nextTat - now - interval * burst
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], nextTat, 'PX', math.ceil(nextTat - now))
return 0`

function pairs (flat: string[]): Array<[string, number]> {
  const result: Array<[string, number]> = []
  for (let i = 0; i + 1 < flat.length; i += 2) result.push([flat[i] as string, Number(flat[i + 1])])
  return result
}
