import { accountName } from '../../policies/identity.js'
import type { AccountGuard, CredentialAttempt, Refusal } from '../protection/account-guard.js'
import type { ChallengeMemory } from '../protection/challenges.js'
import { basicPassword, type Fingerprints } from '../protection/fingerprints.js'
import type { ProtectionState } from '../protection/protection-state.js'
import { reply, type Reply } from '../replies/reply.js'
import type { RequestState } from './request-state.js'
import type { PipelineEnv } from './stage.js'

/** Account protection as the pipeline holds it (gateway/protection/). */
export interface Protection {
  state: ProtectionState
  guard: AccountGuard
  fingerprints: Fingerprints
  challenges: ChallengeMemory
}

const BANNED = reply('GW_PROTECTION_BANNED', undefined, { note: 'client banned by account protection' })
const STORE_DOWN = reply('GW_STORE_UNAVAILABLE', undefined, { headers: { 'retry-after': '30' }, note: 'protection store unavailable' })

/**
 * Stage `protect`: a request that carries a password (Basic) or ends an NTLM handshake (type 3) is
 * checked against account protection before it may cost the directory a bad attempt, and leaves an
 * observer for Exchange's answer. Bearer tokens, requests without credentials and NTLM's first
 * messages count nothing. ENS's device API is not a sign-in.
 */
export function protect (state: RequestState, env: PipelineEnv): Promise<Reply | undefined> | undefined {
  const protection = env.protection
  const who = state.identified
  if (!protection || !who || state.service === 'ens' || state.service === undefined) return undefined // no promise when there is nothing to do
  const { authorization } = who
  const counted = (authorization.scheme === 'basic' || (authorization.ntlmMessage === 3 && (authorization.scheme === 'ntlm' || authorization.scheme === 'negotiate'))) && authorization.user
  if (!counted) return undefined
  return guarded(state, state.service, protection, who)
}

async function guarded (state: RequestState, service: string, protection: Protection, who: NonNullable<RequestState['identified']>): Promise<Reply | undefined> {
  const { authorization } = who
  const account = accountName(authorization.user as string).toLowerCase()
  const password = authorization.scheme === 'basic' ? basicPassword(state.req.headers.authorization) : undefined
  const attempt: CredentialAttempt = {
    service,
    account,
    deviceId: who.identity.deviceId?.toLowerCase(),
    client: state.clientIp,
    prints: password === undefined ? undefined : protection.fingerprints.of(account, password)
  }
  const refusal = await protection.guard.check(attempt)
  if (refusal) return refusalReply(refusal, protection, service)
  state.onAuthAnswer = (status, rawHeaders, body) => {
    if (status === 401) protection.challenges.learn(service, rawHeaders, body)
    return protection.guard.answered(attempt, status)
  }
  return undefined
}

function refusalReply (refusal: Refusal, protection: Protection, service: string): Reply {
  if (refusal.reason === 'client_banned') return BANNED
  if (refusal.reason === 'store_unavailable') return STORE_DOWN
  const challenge = protection.challenges.of(service)
  return reply('GW_PROTECTION_REFUSED', undefined, { note: `refused by account protection: ${refusal.reason}`, exact: { status: 401, headers: challenge.headers, body: challenge.body } })
}
