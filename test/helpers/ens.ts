import { constants, createHash, publicEncrypt } from 'node:crypto'
import type { TestContext } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { closeAfter, startTestGateway } from './gateway.js'
import { send } from './http.js'
import { freePort } from './ports.js'
import { fakeApns } from './push.js'

process.env.PORTCULLIS_ENS_EWS_TEST_ADMIN = 'ens-admin-token'

export interface EnsUser { email: string, password: string, userId: string }

export function ensUser (email: string, password: string): EnsUser {
  return { email, password, userId: createHash('sha256').update(email.toLowerCase()).digest('hex') }
}

/** What a device does: fetch the user's public key, encrypt `user:password` to it (RSA-OAEP-256), subscribe. */
export async function subscribeDevice (gatewayUrl: string, user: EnsUser, device: Record<string, string>, options: { base?: string, headers?: Record<string, string>, password?: string } = {}): Promise<{ status: number, keyId: string, algorithm: string, ciphertext: string, body: Record<string, unknown> }> {
  const base = `${gatewayUrl}${options.base ?? '/api/ens'}`
  const headers = { 'content-type': 'application/json', ...options.headers }
  const key = JSON.parse((await send(`${base}/publickey`, { method: 'POST', body: JSON.stringify({ userId: user.userId }), headers })).body.toString()) as { keyId: string, publicKey: string, algorithm: string }
  const ciphertext = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(`${user.email}:${options.password ?? user.password}`)).toString('base64url')
  const res = await send(`${base}/subscribe`, { method: 'POST', body: JSON.stringify({ userId: user.userId, keyId: key.keyId, credentials: ciphertext, emailAddress: user.email, device }), headers })
  return { status: res.status, keyId: key.keyId, algorithm: key.algorithm, ciphertext, body: res.body.length ? JSON.parse(res.body.toString()) as Record<string, unknown> : {} }
}

export type Exchange = ReturnType<typeof fakeExchange>

/** A fake Exchange that knows `user`'s password. */
export async function exchangeServer (t: TestContext, user: EnsUser, name: string, tls?: { cert: string, key: string }): Promise<Exchange> {
  const exchange = fakeExchange(name, tls ? { tls } : {})
  exchange.ews.users = { [user.email]: user.password }
  await exchange.listen()
  closeAfter(t, exchange)
  return exchange
}

/** A gateway with ENS on `servers` (the Exchange pool) and APNs; the admin API token is `ens-admin-token`. */
export async function ensGateway (t: TestContext, servers: string[], extra: { tls?: Record<string, unknown>, apns: Awaited<ReturnType<typeof fakeApns>>, ens?: Record<string, unknown>, store?: Record<string, unknown>, policies?: string }): Promise<Awaited<ReturnType<typeof startTestGateway>>> {
  const port = await freePort()
  return startTestGateway(t, {
    listen: { host: '127.0.0.1', port },
    publicUrl: `http://127.0.0.1:${port}`,
    admin: { tokenEnv: 'PORTCULLIS_ENS_EWS_TEST_ADMIN' },
    upstreams: { exchange: { servers, ...(extra.tls ? { tls: extra.tls } : {}) } },
    services: {},
    ...(extra.store ? { store: extra.store } : {}),
    ...(extra.policies ? { policies: extra.policies } : {}),
    ens: {
      enabled: true,
      ews: { upstream: 'exchange' },
      push: { apns: { keyFile: extra.apns.keyFile, keyId: 'TESTKEY123', teamId: 'TEAM123456', topic: 'com.example.mail', endpoint: extra.apns.url } },
      ...extra.ens
    }
  })
}

/** The usual ENS test world: a fake APNs, one fake Exchange knowing `user` (adjusted by `prepare`), and a gateway on it. */
export async function ensSetup (t: TestContext, user: EnsUser, prepare?: (exchange: Exchange) => void): Promise<{ apns: Awaited<ReturnType<typeof fakeApns>>, exchange: Exchange } & Awaited<ReturnType<typeof startTestGateway>>> {
  const apns = await fakeApns(t)
  const exchange = await exchangeServer(t, user, 'exch01')
  prepare?.(exchange)
  return { apns, exchange, ...await ensGateway(t, [exchange.url], { apns }) }
}
