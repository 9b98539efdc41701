import { accountName } from '../../policies/identity.js'
import type { LoadedConfig } from '../config/load.js'
import { RedisConnection } from '../store/redis-connection.js'
import { limitsOf } from './account-guard.js'
import { RedisProtectionState } from './redis-protection-state.js'

export interface ProtectionExplained {
  user: string
  locked: { familiar: string | null, unfamiliar: string | null }
  limits: { familiar: number, unfamiliar: number }
  familiarDevices: number
  familiarNetworks: number
  goodCredentials: number
  failuresCounting: boolean
  staleDevices: string[]
}

/**
 * `portcullis explain --user U`: the account's protection state as the store holds it. On the memory
 * store the state lives in the running gateway only: the answer says to ask its admin API instead.
 */
export async function explainProtection (config: LoadedConfig, user: string): Promise<{ text: string, json: ProtectionExplained | { error: string } }> {
  const protection = config.protection
  if (!protection) return { text: 'account protection is not configured\n', json: { error: 'account protection is not configured' } }
  if (config.store.type !== 'redis') {
    const error = 'the memory store lives in the running gateway: ask it, GET /api/protection on the admin listener'
    return { text: `protection state: ${error}\n`, json: { error } }
  }
  const { url, keyPrefix, passwordEnv } = config.store.redis
  const redis = new RedisConnection(url, keyPrefix, passwordEnv ? process.env[passwordEnv] : undefined)
  try {
    const account = accountName(user).toLowerCase()
    const state = new RedisProtectionState(redis)
    const [view, snapshot] = await Promise.all([state.view({ account, client: '', cred: undefined, pw: undefined, deviceId: undefined }), state.snapshot()])
    const iso = (until: number | undefined): string | null => until === undefined ? null : new Date(until).toISOString()
    const json: ProtectionExplained = {
      user: account,
      locked: { familiar: iso(view.lockedUntil.familiar), unfamiliar: iso(view.lockedUntil.unfamiliar) },
      limits: limitsOf(protection),
      familiarDevices: view.familiar.devices.length,
      familiarNetworks: view.familiar.networks.length,
      goodCredentials: view.good.length,
      failuresCounting: view.failing,
      staleDevices: snapshot.staleDevices.filter(d => d.user === account).map(d => d.deviceId)
    }
    const lock = (traffic: 'familiar' | 'unfamiliar'): string => json.locked[traffic] ? `locked until ${json.locked[traffic]}` : 'not locked'
    const text = `protection for ${account}: unfamiliar traffic ${lock('unfamiliar')} (limit ${json.limits.unfamiliar} per window), familiar traffic ${lock('familiar')} (limit ${json.limits.familiar}); ` +
      `${json.familiarDevices} familiar device(s), ${json.familiarNetworks} network(s), ${json.goodCredentials} credential(s) seen to succeed; ` +
      `failures being counted: ${json.failuresCounting ? 'yes' : 'no'}; stale devices: ${json.staleDevices.join(', ') || 'none'}\n`
    return { text, json }
  } finally {
    redis.close()
  }
}
