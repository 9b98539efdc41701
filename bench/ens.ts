import { spawn } from 'node:child_process'
import { constants, createHash, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { fakeExchange } from '../gateway/lab/fake-exchange.js'

/**
 * ENS end to end on one core: the gateway (pinned to CPU 1, production config) receives Exchange's
 * SendNotification, decrypts the credentials, fetches subject and sender with GetItem from a local
 * fake EWS and pushes to a local fake APNs over HTTP/2. The fake servers and the load run on CPU 0.
 * Reports notifications per second and the latency Exchange sees (p50, p99). BENCH_ENS_REDIS=redis://...
 * runs it on the Redis store (pin redis-server to CPU 0 first: taskset -cp 0 <pid>).
 */
const USERS = 200
/** Exchange delivers callbacks for many mailboxes in parallel; two levels, to show how batching helps. */
const CONCURRENCY = (process.env.BENCH_ENS_CONCURRENCY ?? '16,32').split(',').map(Number)
const SECONDS = Number(process.env.BENCH_ENS_SECONDS ?? 10)
const WARMUP_SECONDS = Number(process.env.BENCH_ENS_WARMUP_SECONDS ?? 10)
const PORT = 18193

const dir = mkdtempSync(join(tmpdir(), 'portcullis-ens-bench-'))
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
writeFileSync(join(dir, 'AuthKey.p8'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
let pushes = 0
const apns = createServer()
apns.on('stream', (stream) => { stream.resume(); stream.on('end', () => { pushes++; stream.respond({ ':status': 200 }); stream.end() }) })
await new Promise<void>(resolve => apns.listen(0, '127.0.0.1', resolve))
const exchange = fakeExchange('exch')
await exchange.listen()
const passwords: Record<string, string> = {}
for (let i = 0; i < USERS; i++) passwords[`user${i}@example.com`] = `pw-${i}`
exchange.ews.users = passwords

writeFileSync(join(dir, 'config.yaml'), `listen: { host: 127.0.0.1, port: ${PORT} }
publicUrl: http://127.0.0.1:${PORT}
admin: { host: 127.0.0.1, port: ${PORT + 1} }
upstreams: { exchange: { servers: [${exchange.url}] } }
services: { activesync: { upstream: exchange } }
log: { level: info }
${process.env.BENCH_ENS_REDIS ? `store: { type: redis, redis: { url: ${process.env.BENCH_ENS_REDIS}, keyPrefix: 'ens-bench-${process.pid}:' } }\n` : ''}ens:
  enabled: true
  masterKeyEnv: PORTCULLIS_ENS_BENCH_MASTER
  ews: { upstream: exchange }
  push: { apns: { keyFile: ${join(dir, 'AuthKey.p8')}, keyId: BENCHKEY01, teamId: TEAM000001, topic: com.example.mail, endpoint: http://127.0.0.1:${(apns.address() as AddressInfo).port} } }
`)
process.env.PORTCULLIS_ENS_BENCH_MASTER = randomBytes(32).toString('base64')
const gateway = spawn('taskset', ['-c', '1', process.execPath, ...(process.env.GATEWAY_NODE_ARGS ? process.env.GATEWAY_NODE_ARGS.split(' ') : []), new URL('../bin/portcullis.js', import.meta.url).pathname, 'start', '--config', join(dir, 'config.yaml')], { stdio: 'ignore' })
process.on('exit', () => gateway.kill('SIGTERM'))
for (let i = 0; i < 100; i++) {
  try { await (await request(`http://127.0.0.1:${PORT}/api/ens/alive`)).body.dump(); break } catch { await new Promise(resolve => setTimeout(resolve, 100)) }
}

for (let i = 0; i < USERS; i++) {
  const email = `user${i}@example.com`
  const userId = createHash('sha256').update(email).digest('hex')
  const key = await (await request(`http://127.0.0.1:${PORT}/api/ens/publickey`, { method: 'POST', body: JSON.stringify({ userId }), headers: { 'content-type': 'application/json' } })).body.json() as { keyId: string, publicKey: string }
  const credentials = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(`${email}:${passwords[email]}`)).toString('base64url')
  const res = await request(`http://127.0.0.1:${PORT}/api/ens/subscribe`, { method: 'POST', body: JSON.stringify({ userId, keyId: key.keyId, credentials, emailAddress: email, device: { id: `phone-${i}`, platform: 'apns', token: `token-${i}` } }), headers: { 'content-type': 'application/json' } })
  if (res.statusCode !== 201) throw new Error(`subscribe ${i}: ${res.statusCode} ${await res.body.text()}`)
  await res.body.dump()
}

/** CPU seconds used so far by a process or thread (utime + stime from /proc), to show where the time goes. */
function cpuSeconds (pid: number, tid?: number): number {
  const fields = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}
/** One load phase: `concurrency` Exchange callbacks at a time for SECONDS; one table row. */
async function phase (concurrency: number, seconds = SECONDS): Promise<string> {
  const gatewayMain0 = cpuSeconds(gateway.pid!, gateway.pid!)
  const gatewayCpu0 = cpuSeconds(gateway.pid!)
  const benchCpu0 = cpuSeconds(process.pid)
  const pushes0 = pushes
  const latencies: number[] = []
  let failures = 0
  const deadline = Date.now() + seconds * 1000
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) {
      const sub = exchange.ews.subscriptions[next++ % exchange.ews.subscriptions.length]!
      const t0 = performance.now()
      const result = await exchange.ews.deliverMail(sub)
      latencies.push(performance.now() - t0)
      if (result.status !== 200 || !result.body.includes('>OK<')) failures++
    }
  }))
  const elapsed = (performance.now() - started) / 1000
  const gatewayBusy = (cpuSeconds(gateway.pid!) - gatewayCpu0) / elapsed
  const benchBusy = (cpuSeconds(process.pid) - benchCpu0) / elapsed
  const mainThread = (cpuSeconds(gateway.pid!, gateway.pid!) - gatewayMain0) / elapsed / gatewayBusy
  latencies.sort((a, b) => a - b)
  const pct = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(1)
  const cpuPerNotification = gatewayBusy * elapsed * 1000 / latencies.length
  return `| ${concurrency} | ${Math.round(latencies.length / elapsed)} | ${pct(0.5)} ms | ${pct(0.99)} ms | ${pushes - pushes0} | ${failures} | ${Math.round(gatewayBusy * 100)} % (${Math.round(mainThread * 100)} % of it on the main thread) | ${cpuPerNotification.toFixed(2)} ms | ${Math.round(benchBusy * 100)} % |\n`
}

process.stdout.write('### ENS end to end (gateway on one core; decrypt, GetItem, APNs push)\n\n' +
  '| concurrent callbacks | notifications/s | p50 | p99 | pushes | failed | gateway CPU | gateway CPU per notification | fakes + load CPU |\n' +
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n')
// Warm-up, not reported: the JIT settles and the heap grows to its working size after the subscribe
// phase (measured: the first 10 s ran at 0.8-1.0 ms of CPU per notification, later ones at 0.7-0.8).
await phase(CONCURRENCY[0] ?? 16, WARMUP_SECONDS)
for (const concurrency of CONCURRENCY) process.stdout.write(await phase(concurrency))
const exited = new Promise(resolve => gateway.once('exit', resolve))
gateway.kill('SIGTERM')
await exited // lets a --cpu-prof in GATEWAY_NODE_ARGS write its profile
if (process.env.BENCH_ENS_REDIS) { // leave the shared Redis as it was
  const redis = new Redis(process.env.BENCH_ENS_REDIS)
  for await (const keys of redis.scanStream({ match: `ens-bench-${process.pid}:*`, count: 1000 })) if ((keys as string[]).length) await redis.del(...(keys as string[]))
  redis.disconnect()
}
await exchange.close()
apns.close()
process.exit(0)
