import { isGatewayError } from '../errors/catalogue.js'
import { identify } from '../protocols/identify.js'
import { reply, type Reply } from '../replies/reply.js'
import type { PipelineEnv } from './stage.js'
import type { RequestState } from './request-state.js'

/**
 * Stage `identify`: who is asking, when a policy or account protection will decide on it. Exchange's ENS callback is
 * authenticated by its own URL and decided on by nobody. Malformed input is a 400 with its code.
 */
export function identifyClient (state: RequestState, env: PipelineEnv): Reply | undefined {
  const service = state.service
  const needed = env.gate !== undefined || env.protection !== undefined || (env.heldPings !== undefined && state.command === 'Ping')
  if (!needed || service === undefined || (service === 'ens' && state.path.toLowerCase().endsWith('/notify'))) return undefined
  const { req, body } = state
  try {
    state.identified = identify(service, {
      method: req.method,
      path: state.path,
      query: state.query,
      headers: req.headers,
      clientIp: state.clientIp,
      body: body.kind === 'buffered' ? body.data : undefined
    })
  } catch (err) {
    if (!isGatewayError(err, 'GW_PROTOCOL_')) throw err
    return reply(err.code, `Bad request: ${err.message}`, { note: err.message })
  }
  if (service !== 'ens') env.connectionOf(req).authenticate(state.identified)
  return undefined
}
