import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Agent } from 'undici'
import { createCa, createServerCert } from '../../gateway/lab/certificates.js'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'

const ca = createCa()
const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'))
const caFile = join(dir, 'ca.pem')
writeFileSync(caFile, ca.cert)
const upstreamCert = createServerCert(ca, ['127.0.0.1', 'exch01.corp.example'])

async function tlsOrigin (t: Parameters<typeof closeAfter>[0]): Promise<SimServer> {
  const origin = new SimServer('tls', (_req, res) => { res.writeHead(200, { 'content-length': 2 }); res.end('ok') }, upstreamCert)
  await origin.listen()
  closeAfter(t, origin)
  return origin
}

test('upstream TLS is verified against the configured CA file', async t => {
  const origin = await tlsOrigin(t)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [origin.url], tls: { caFile } } }, services: { ews: { upstream: 'exchange' } } })
  const res = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>' })
  assert.equal(res.status, 200)
  assert.equal(res.body.toString(), 'ok')
})

test('an upstream certificate nobody vouches for is refused (verification is on by default)', async t => {
  const origin = await tlsOrigin(t)
  const { gateway, logs } = await startTestGateway(t, { upstreams: { exchange: { servers: [origin.url], retry: { maxAttempts: 1 } } }, services: { ews: { upstream: 'exchange' } } })
  const res = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>' })
  assert.equal(res.status, 503)
  assert.equal(origin.received.length, 0)
  assert.ok(logs.find('request').some(l => String(l.note).includes('UNABLE_TO_VERIFY') || String(l.note).includes('SELF_SIGNED') || String(l.note).includes('CERT')), 'the log names the certificate problem')
})

test('insecure: true skips verification when the admin asks for it', async t => {
  const origin = await tlsOrigin(t)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [origin.url], tls: { insecure: true } } }, services: { ews: { upstream: 'exchange' } } })
  const res = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>' })
  assert.equal(res.status, 200)
})

test('the listener terminates TLS with the configured certificate', async t => {
  const listenerCert = createServerCert(ca, ['127.0.0.1', 'mobile.example.com'])
  writeFileSync(join(dir, 'gw.crt'), listenerCert.cert)
  writeFileSync(join(dir, 'gw.key'), listenerCert.key)
  const origin = new SimServer('plain', (req, res) => { res.writeHead(200, { 'content-length': 2 }); res.end(String(req.headers['x-forwarded-proto']).slice(0, 2)) })
  await origin.listen()
  closeAfter(t, origin)
  const { gateway } = await startTestGateway(t, {
    listen: { host: '127.0.0.1', port: 0, tls: { cert: join(dir, 'gw.crt'), key: join(dir, 'gw.key') } },
    upstreams: { exchange: { servers: [origin.url] } },
    services: { ews: { upstream: 'exchange' } }
  })
  assert.match(gateway.url, /^https:/)
  const agent = new Agent({ connect: { ca: ca.cert } })
  t.after(() => agent.close())
  const res = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>', dispatcher: agent })
  assert.equal(res.status, 200)
  assert.equal(res.body.toString(), 'ht') // X-Forwarded-Proto: https
})
