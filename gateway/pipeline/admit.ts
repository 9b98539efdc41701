import type { ErrorCode } from '../errors/catalogue.js'
import type { Verdict } from '../policy/gate.js'
import type { Identified } from '../protocols/identify.js'
import { reply, type Reply } from '../replies/reply.js'
import type { PipelineEnv } from './stage.js'
import type { RequestState } from './request-state.js'

/** What a client is told to wait when the store is down (it comes back within seconds in a failover). */
const STORE_RETRY_AFTER_SECONDS = '30'
const STORE_UNAVAILABLE = reply('GW_STORE_UNAVAILABLE', undefined, { headers: { 'retry-after': STORE_RETRY_AFTER_SECONDS }, note: 'store unavailable' })

/**
 * Stage `admit`: the policy's verdict (PolicyGate decides; this stage only turns a refusal into the
 * reply). ENS's device API has no device records: the rules alone decide there.
 */
export function admit (state: RequestState, env: PipelineEnv): Promise<Reply | undefined> | Reply | undefined {
  const who = state.identified
  const gate = env.gate
  if (!gate || !who) return undefined
  if (state.service === 'ens') return replyTo(gate.decide(who.identity), state, env, who)
  return gate.admit(state, who).then(verdict => replyTo(verdict, state, env, who))
}

function replyTo (verdict: Verdict, state: RequestState, env: PipelineEnv, who: Identified): Reply | undefined {
  if (verdict.action === 'allow') return undefined
  if (verdict.action === 'unavailable') return STORE_UNAVAILABLE
  const { identity } = who
  env.log.info({ rule: verdict.rule, action: verdict.action, service: state.service, user: identity.user, deviceId: identity.deviceId, userAgent: identity.userAgent, command: identity.command }, verdict.action === 'block' ? 'client blocked' : 'device quarantined')
  const code: ErrorCode = verdict.action === 'block' ? 'GW_POLICY_BLOCKED' : 'GW_POLICY_QUARANTINED'
  const note = `${verdict.action} by rule ${verdict.rule}`
  return reply(code, undefined, who.activesync ? { note, activesync: { command: who.activesync.command, version: who.activesync.version } } : { note })
}
