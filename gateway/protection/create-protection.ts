import type { Config } from '../config/schema.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import type { Protection } from '../pipeline/protect.js'
import { failingAsUnavailable } from '../store/redis-connection.js'
import type { Store } from '../store/store.js'
import { AccountGuard } from './account-guard.js'
import { ChallengeMemory } from './challenges.js'
import { fingerprintKey, Fingerprints, randomFingerprintKey } from './fingerprints.js'
import { MemoryProtectionState } from './memory-protection-state.js'
import type { ProtectionState } from './protection-state.js'
import { RedisProtectionState } from './redis-protection-state.js'

export interface RunningProtection extends Protection {
  close: () => void
}

/** Gauges of what is in force are refreshed this often (a snapshot of the store). */
const GAUGE_EVERY_MS = 15_000

/** Account protection on the gateway's store backend; undefined when `protection` is not configured. */
export function createProtection (config: Config, store: Store, metrics: Metrics, log: Logger): RunningProtection | undefined {
  const settings = config.protection
  if (!settings) return undefined
  let key = fingerprintKey(settings.keyEnv ? process.env[settings.keyEnv] : undefined)
  if (!key) {
    if (store.kind === 'redis') throw new Error('account protection on the Redis store needs a key: set protection.keyEnv and that variable (32 random bytes, base64)')
    key = randomFingerprintKey() // memory store: fingerprints die with the process anyway
    log.warn('protection.keyEnv not set: using a random fingerprint key for this process (memory store only)')
  }
  const memory = store.redis ? undefined : new MemoryProtectionState()
  const state: ProtectionState = store.redis ? failingAsUnavailable(new RedisProtectionState(store.redis)) : memory as MemoryProtectionState
  const refresh = (): void => {
    state.snapshot().then(s => {
      metrics.protectionActive.set({ kind: 'locked_users' }, s.lockedUsers.length)
      metrics.protectionActive.set({ kind: 'banned_clients' }, s.bannedClients.length)
      metrics.protectionActive.set({ kind: 'stale_devices' }, s.staleDevices.length)
      metrics.protectionActive.set({ kind: 'refused_passwords' }, s.refusedPasswords.length)
    }, () => {})
  }
  const timer = setInterval(refresh, GAUGE_EVERY_MS).unref()
  refresh()
  return {
    state,
    guard: new AccountGuard(state, settings, metrics, log),
    fingerprints: new Fingerprints(key),
    challenges: new ChallengeMemory(),
    close: () => { clearInterval(timer); memory?.close() }
  }
}
