import type { TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { closeAfter, startTestGateway } from './gateway.js'
import { send, type Reply } from './http.js'

export const PROTECTION_ADMIN = 'protection-admin-token'
process.env.PORTCULLIS_PROTECTION_ADMIN = PROTECTION_ADMIN
process.env.PORTCULLIS_PROTECTION_KEY = Buffer.alloc(32, 7).toString('base64')

export type Exchange = ReturnType<typeof fakeExchange>

/**
 * A fake Exchange that behaves like a domain controller (bad passwords counted per account, locked at
 * the threshold: then even the right password gets 401), with `users` and their passwords.
 */
export async function directoryExchange (t: TestContext, users: Record<string, string>, lockoutThreshold = 5): Promise<Exchange> {
  const exchange = fakeExchange('exch-dc', { users, directory: { lockoutThreshold, observationWindowMs: 30 * 60_000, lockoutMs: 30 * 60_000 } })
  await exchange.listen()
  closeAfter(t, exchange)
  return exchange
}

/** A gateway with account protection in front of `exchange`; 127.0.0.1 is a trusted proxy, so X-Forwarded-For names the client. */
export async function protectedGateway (t: TestContext, exchange: Exchange, protection: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Awaited<ReturnType<typeof startTestGateway>>> {
  return await startTestGateway(t, {
    listen: { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1/32'] },
    admin: { tokenEnv: 'PORTCULLIS_PROTECTION_ADMIN' },
    upstreams: { exchange: { servers: [exchange.url] } },
    services: { activesync: { upstream: 'exchange' }, ews: { upstream: 'exchange' } },
    protection: { keyEnv: 'PORTCULLIS_PROTECTION_KEY', directory: { lockoutThreshold: 5, observationWindowMinutes: 30 }, ...protection },
    ...extra
  })
}

export interface Sign { user: string, password?: string, device?: string, client: string, authorization?: string }

/** An ActiveSync FolderSync as a phone sends it, from `client` (X-Forwarded-For), with Basic credentials. */
export async function folderSync (gatewayUrl: string, sign: Sign): Promise<Reply> {
  const device = sign.device ?? 'DEV1'
  const authorization = sign.authorization ?? 'Basic ' + Buffer.from(`${sign.user}:${sign.password ?? ''}`).toString('base64')
  return await send(`${gatewayUrl}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=${encodeURIComponent(sign.user)}&DeviceId=${device}&DeviceType=iPhone`, {
    method: 'POST',
    headers: { host: 'mobile.example.com', authorization, 'user-agent': 'Apple-iPhone15C2/2104.154', 'ms-asprotocolversion': '16.1', 'content-type': 'application/vnd.ms-sync.wbxml', 'x-forwarded-for': sign.client },
    body: Buffer.alloc(0)
  })
}

/** Failures that reached the simulated domain controller for an account. */
export function failuresAt (exchange: Exchange, account: string): number {
  return exchange.directory.get(account)?.failures ?? 0
}

export async function protectionState (adminUrl: string): Promise<{ lockedUsers: Array<{ user: string, traffic: string }>, bannedClients: Array<{ client: string }>, staleDevices: Array<{ user: string, deviceId: string }>, refusedPasswords: Array<{ fingerprint: string }> }> {
  const res = await send(`${adminUrl}/api/protection`, { headers: { authorization: `Bearer ${PROTECTION_ADMIN}` } })
  return JSON.parse(res.body.toString()) as Awaited<ReturnType<typeof protectionState>>
}
