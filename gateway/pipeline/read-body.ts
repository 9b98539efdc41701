import type { PolicyGate } from '../policy/gate.js'
import { DEVICE_INFORMATION_COMMANDS, UCWA_APPLICATIONS } from '../protocols/identify.js'
import { readRequestBody, readWholeBody } from '../proxy/request-body.js'
import { reply, type Reply } from '../replies/reply.js'
import type { UpstreamPool } from '../upstream/pool.js'
import type { PipelineEnv } from './stage.js'
import type { RequestState } from './request-state.js'

/** Settings, Provision and EWS bodies a rule reads are read whole up to this size; larger ones get 413. */
export const INSPECTED_BODY_BYTES = 1_048_576

const TOO_LARGE = reply('GW_PROTOCOL_BODY_TOO_LARGE', `Request body larger than ${INSPECTED_BODY_BYTES} bytes`, { headers: { connection: 'close' }, note: 'body too large to inspect' })

/**
 * Stage `read body`: bodies a rule reads are read whole (the gateway decides on exactly the bytes it
 * forwards); others are buffered up to the replay limit or streamed. ENS reads its own bodies.
 */
export function readBody (state: RequestState, env: PipelineEnv): Promise<Reply | undefined> | undefined {
  if (state.service === 'ens') return undefined
  const { req } = state
  const pool = state.pool as UpstreamPool
  const reading = env.gate && inspectsBody(state, env.gate)
    ? readWholeBody(req, INSPECTED_BODY_BYTES)
    : readRequestBody(req, pool.config.retry.bufferBodyBytes)
  return reading.then(body => {
    if (body === 'too-large') return TOO_LARGE
    state.body = body
    return undefined
  })
}

/** Bodies a rule reads: DeviceInformation of Settings and Provision, the EWS operation when a rule reads `command`. */
function inspectsBody ({ service, command, req, path }: RequestState, gate: PolicyGate): boolean {
  if (req.method !== 'POST') return false
  if (service === 'activesync') return command !== undefined && DEVICE_INFORMATION_COMMANDS.has(command)
  if (service === 'ews') return gate.reads('command')
  return service === 'ucwa' && gate.reads('userAgent') && UCWA_APPLICATIONS.test(path)
}
