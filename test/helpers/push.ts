import { createSecureServer, createServer, type Http2SecureServer, type Http2Server } from 'node:http2'
import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { AddressInfo } from 'node:net'

export interface ApnsPush {
  token: string
  headers: Record<string, string | string[] | undefined>
  body: { aps: Record<string, unknown>, ens?: Record<string, unknown> }
  jwtValid: boolean
}

/**
 * A fake APNs on 127.0.0.1: cleartext HTTP/2 (h2c), or HTTP/2 over TLS with `tls` as Apple serves it.
 * It checks each provider token's ES256 signature with the team's public key and answers 200, 410
 * Unregistered for tokens in `dead`, or `reject` (status and reason) while that is set.
 */
export async function fakeApns (t: TestContext, tls?: { cert: string, key: string }): Promise<{ url: string, keyFile: string, pushes: ApnsPush[], dead: Set<string>, reject: { status: number, reason: string } | undefined }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-apns-'))
  const keyFile = join(dir, 'AuthKey_TESTKEY123.p8')
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const pushes: ApnsPush[] = []
  const dead = new Set<string>()
  const state: { reject: { status: number, reason: string } | undefined } = { reject: undefined }
  const server: Http2Server | Http2SecureServer = tls ? createSecureServer({ ...tls, allowHTTP1: false }) : createServer()
  server.on('stream', (stream, headers) => {
    let body = ''
    stream.setEncoding('utf8')
    stream.on('data', (c: string) => { body += c })
    stream.on('end', () => {
      const token = decodeURIComponent(String(headers[':path']).replace('/3/device/', ''))
      pushes.push({ token, headers, body: JSON.parse(body) as ApnsPush['body'], jwtValid: jwtValid(String(headers.authorization ?? ''), publicKey) })
      const tooLarge = Buffer.byteLength(body) > 4096 ? { status: 413, reason: 'PayloadTooLarge' } : undefined // Apple's limit
      const answer = state.reject ?? tooLarge ?? (dead.has(token) ? { status: 410, reason: 'Unregistered' } : undefined)
      stream.respond({ ':status': answer?.status ?? 200, 'apns-id': 'test' })
      stream.end(answer ? JSON.stringify({ reason: answer.reason }) : '')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const sessions = new Set<import('node:http2').ServerHttp2Session>()
  server.on('session', session => { sessions.add(session); session.on('close', () => sessions.delete(session)) })
  // The gateway keeps its HTTP/2 connection open (as it should with Apple): end it, or close() waits.
  t.after(() => new Promise<void>(resolve => { for (const s of sessions) s.destroy(); server.close(() => resolve()) }))
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(state, { url, keyFile, pushes, dead })
}

function jwtValid (authorization: string, publicKey: KeyObject): boolean {
  const [header = '', payload = '', signature = ''] = authorization.replace(/^bearer /, '').split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { iss?: string, iat?: number }
  const head = JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: string, kid?: string }
  return head.alg === 'ES256' && head.kid === 'TESTKEY123' && claims.iss === 'TEAM123456' &&
    verify('sha256', Buffer.from(`${header}.${payload}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))
}
