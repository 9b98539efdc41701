import { accountName } from '../../policies/identity.js'
import type { RateLimitConfig, ServiceName } from '../config/schema.js'
import { networkOf } from '../net/networks.js'
import { StoreUnavailableError } from '../store/store-unavailable.js'
import { reply, type Reply } from '../replies/reply.js'
import type { RequestState } from './request-state.js'
import type { Protection } from './protect.js'
import type { PipelineEnv } from './stage.js'

/**
 * Stage `limit`: token buckets per device (account and DeviceId), per account and per client address
 * (protection.rateLimits, off unless set), shared through the store. A request over a limit is
 * answered as each protocol expects a server to throttle: ActiveSync 503 with X-MS-ASThrottle and
 * Retry-After (the device backs off, as from Exchange), the others 429 with Retry-After. A store outage
 * lets requests through: a rate limit is no reason to refuse service.
 */
export function limit (state: RequestState, env: PipelineEnv): Promise<Reply | undefined> | undefined {
  const limits = env.config.protection?.rateLimits
  const service = state.service
  if (!limits || !env.protection || service === undefined || service === 'ens' || (!limits.device && !limits.user && !limits.client)) return undefined // no promise when there is nothing to do
  return limited(state, env, service, limits, env.protection)
}

async function limited (state: RequestState, env: PipelineEnv, service: ServiceName, limits: NonNullable<NonNullable<PipelineEnv['config']['protection']>['rateLimits']>, protection: Protection): Promise<Reply | undefined> {
  const identity = state.identified?.identity
  const account = identity?.user ? accountName(identity.user).toLowerCase() : undefined
  const buckets: Array<[string, RateLimitConfig | undefined]> = [
    [`client:${networkOf(state.clientIp, 32, 64)}`, limits.client],
    [`user:${account}`, account ? limits.user : undefined],
    [`device:${account}:${identity?.deviceId?.toLowerCase()}`, account && identity?.deviceId ? limits.device : undefined]
  ]
  for (const [bucket, config] of buckets) {
    if (!config || (config.services && !config.services.includes(service))) continue
    let waitMs: number
    try {
      waitMs = await protection.state.take(bucket, 60_000 / config.perMinute, config.burst ?? Math.max(1, Math.ceil(config.perMinute)))
    } catch (err) {
      if (err instanceof StoreUnavailableError) return undefined
      throw err
    }
    if (waitMs > 0) {
      const kind = bucket.slice(0, bucket.indexOf(':'))
      env.metrics.rateLimitedBy(service, kind).inc()
      const retryAfter = String(Math.max(1, Math.ceil(waitMs / 1000)))
      return service === 'activesync'
        ? reply('GW_RATE_LIMITED', undefined, { status: 503, headers: { 'x-ms-asthrottle': 'CommandFrequency', 'retry-after': retryAfter }, note: `rate limit per ${kind}` })
        : reply('GW_RATE_LIMITED', undefined, { headers: { 'retry-after': retryAfter }, note: `rate limit per ${kind}` })
    }
  }
  return undefined
}
