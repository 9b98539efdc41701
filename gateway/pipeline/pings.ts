import { accountName } from '../../policies/identity.js'
import { isGatewayError } from '../errors/catalogue.js'
import { pingHeartbeat, pingHeartbeatAnswer } from '../protocols/activesync-ping.js'
import { reply, type Reply } from '../replies/reply.js'
import type { RequestState } from './request-state.js'
import type { PipelineEnv } from './stage.js'

/**
 * Stage `pings`: ActiveSync Pings within the configured heartbeat range (else Status 5 with the allowed
 * value, as Exchange answers, so phones stay under the firewall's idle timeout), and one held Ping per
 * device (activesync.onePingPerDevice).
 */
export function pings (state: RequestState, env: PipelineEnv): Reply | undefined {
  if (state.service !== 'activesync' || state.command !== 'Ping') return undefined
  const { maxHeartbeatSeconds: max, minHeartbeatSeconds: min } = env.config.activesync
  if (max !== undefined || min !== undefined) {
    let asked: number | undefined
    try {
      asked = pingHeartbeat(state.body.kind === 'buffered' ? state.body.data : undefined)
    } catch (err) {
      if (!isGatewayError(err, 'GW_PROTOCOL_')) throw err
      return reply(err.code, `Bad request: ${err.message}`, { note: err.message })
    }
    const allowed = asked === undefined ? undefined : max !== undefined && asked > max ? max : min !== undefined && asked < min ? min : undefined
    if (allowed !== undefined) {
      return reply('GW_PING_HEARTBEAT', undefined, {
        note: `heartbeat ${asked} s outside the allowed range`,
        exact: { status: 200, headers: ['content-type', 'application/vnd.ms-sync.wbxml', 'cache-control', 'private'], body: pingHeartbeatAnswer(allowed) }
      })
    }
  }
  const who = state.identified
  const user = who?.identity.user
  const deviceId = who?.identity.deviceId
  if (env.heldPings && user && deviceId) env.heldPings.hold(state, `${accountName(user).toLowerCase()}\u0000${deviceId.toLowerCase()}`)
  return undefined
}
