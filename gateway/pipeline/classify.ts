import { activesyncCommand } from '../protocols/activesync-command.js'
import { autodiscoverTargetProblem } from '../protocols/autodiscover-target.js'
import { longPollTimeout } from '../proxy/long-poll.js'
import { reply, type Reply } from '../replies/reply.js'
import type { PipelineEnv } from './stage.js'
import type { RequestState } from './request-state.js'

/** Stage `classify`: what kind of request this is: Autodiscover shapes refused, the ActiveSync command, long-polls. */
export function classify (state: RequestState, env: PipelineEnv): Reply | undefined {
  const { service } = state
  if (service === 'ens' || service === undefined) return undefined
  if (service === 'autodiscover') {
    const problem = autodiscoverTargetProblem(state.path, state.req.url ?? '', state.query)
    if (problem) return reply('GW_PROTOCOL_AUTODISCOVER_TARGET', `Bad request: ${problem}`, { note: problem })
  }
  if (service === 'activesync') state.command = activesyncCommand(state.query)
  state.longPollMs = longPollTimeout(service, state.command, state.path.toLowerCase(), env.config.timeouts)
  if (state.longPollMs !== undefined) env.metrics.longPollsInFlight.inc({ service })
  return undefined
}
