import { reply, type Reply } from '../replies/reply.js'
import { canonicalTarget } from '../routing/normalize-path.js'
import { ALLOWED_METHODS, serviceForPath } from '../routing/services.js'
import { repeatedSingletonHeader } from '../protocols/singleton-headers.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { PipelineEnv } from './stage.js'
import type { RequestState } from './request-state.js'

const NOT_FOUND = reply('GW_ROUTE_NOT_FOUND')

/** Stage `route`: the canonical target, refused when ambiguous; the service and its upstream pool. */
export function route (state: RequestState, env: PipelineEnv): Reply | undefined {
  const { req } = state
  const target = canonicalTarget(req.url ?? '')
  if (!target.ok) return reply('GW_PROTOCOL_BAD_TARGET', `Bad request: ${target.reason}`)
  const repeated = repeatedSingletonHeader(req.rawHeaders)
  if (repeated) return reply('GW_PROTOCOL_REPEATED_HEADER', `Bad request: more than one ${repeated} header`)
  state.path = target.path
  state.query = target.query
  const service = serviceForPath(target.path, req.headers.host)
  if (service === 'ens') {
    if (!env.ens) return NOT_FOUND
    state.service = service
  } else {
    const published = service && env.config.services[service]
    if (!service || !published) return NOT_FOUND
    state.service = service
    state.pool = env.pools.get(published.upstream) as UpstreamPool
  }
  const allowed = ALLOWED_METHODS[service]
  if (!allowed.has(req.method ?? '')) return reply('GW_ROUTE_METHOD_NOT_ALLOWED', undefined, { headers: { allow: [...allowed].join(', ') } })
  return undefined
}
