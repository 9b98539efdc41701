import type { ForwardRequest } from '../proxy/forward.js'
import { upstreamRequestHeaders } from '../proxy/headers.js'
import type { Reply } from '../replies/reply.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { PipelineEnv } from './stage.js'
import type { RequestState } from './request-state.js'

/**
 * Stage `prepare`: exactly what goes upstream (headers rebuilt from the ones decided on, the body as
 * read, the NTLM/Negotiate connection this client connection owns). Nothing is read again later.
 */
export function prepare (state: RequestState, env: PipelineEnv): Reply | undefined {
  if (state.service === 'ens') return undefined
  const { req } = state
  const request: ForwardRequest = {
    method: req.method as string,
    headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, env.forwardedFor(req), env.proto),
    body: state.body,
    ...(state.service === 'activesync' ? { rewriteLocation: env.rewriteLocation } : {})
  }
  const pinned = env.connectionOf(req).pinnedFor(state.pool as UpstreamPool, req.headers.authorization)
  if (pinned) request.pinned = pinned
  state.forward = request
  return undefined
}
