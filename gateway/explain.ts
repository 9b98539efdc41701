import { loadPolicy } from './policy/load-policy.js'
import { PROTOCOLS, type ClientIdentity, type Protocol } from '../policies/identity.js'
import type { LoadedConfig } from './config/load.js'

export interface ExplainOptions {
  protocol?: string | undefined
  'user-agent'?: string | undefined
  'device-type'?: string | undefined
  'device-id'?: string | undefined
  'device-model'?: string | undefined
  'device-os'?: string | undefined
  user?: string | undefined
  command?: string | undefined
  auth?: string | undefined
  ip?: string | undefined
  method?: string | undefined
  path?: string | undefined
  json?: boolean | undefined
}

/** `portcullis explain`: the decision the configured policy takes for a described client, and the rule. */
export function explain (config: LoadedConfig, o: ExplainOptions): { text: string, code: number } {
  if (!config.policies) return { text: 'the config names no policies file: every client is allowed\n', code: 0 }
  if (!o.protocol || !(PROTOCOLS as readonly string[]).includes(o.protocol)) {
    return { text: `--protocol must be one of ${PROTOCOLS.join(', ')}\n`, code: 2 }
  }
  const identity: ClientIdentity = {
    protocol: o.protocol as Protocol,
    userAgent: o['user-agent'],
    deviceType: o['device-type'],
    deviceId: o['device-id'],
    deviceModel: o['device-model'],
    deviceOS: o['device-os'],
    user: o.user,
    command: o.command,
    authScheme: o.auth ?? 'none',
    clientIp: o.ip,
    method: o.method ?? 'POST',
    path: o.path,
    headers: o['user-agent'] ? { 'user-agent': o['user-agent'] } : {}
  }
  const { policy } = loadPolicy(config.policies)
  const decision = policy.decide(identity)
  if (o.json) return { text: JSON.stringify({ action: decision.action, rule: decision.rule, reason: decision.reason ?? null, flags: decision.flags ?? [], policy: config.policies }) + '\n', code: 0 }
  const because = decision.rule === 'default' ? 'no rule matched: the default applies' : `rule "${decision.rule}"${decision.reason ? `: ${decision.reason}` : ''}`
  const flagged = decision.flags ? ` (flagged by ${decision.flags.map(f => `"${f}"`).join(', ')})` : ''
  return { text: `${decision.action.toUpperCase()} by ${because}${flagged}\n`, code: 0 }
}
