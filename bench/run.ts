import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { request } from 'undici'

/**
 * The side-by-side benchmark (README, "Benchmark"). Every peer runs alone on CPU 1 (one process,
 * worker or thread); wrk and the origins share CPU 0. Workloads: a 1 KB and a 100 KB ActiveSync-like
 * POST (wrk, 50 connections, 3 s warm-up, 10 s measured), 5,000 held Pings (RSS per held request and
 * an ordinary request's latency while they are held), and Portcullis with one of three servers
 * answering 503. Prints a Markdown report and writes it to bench/results/.
 */

const ROOT = new URL('..', import.meta.url).pathname
const DIR = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
const DURATION = process.env.BENCH_DURATION ?? '10s'
const HELD = Number(process.env.BENCH_HELD ?? 5000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 30_000)
/** Ports asked of the OS at start (all held open at once, so they differ), never fixed ones: other work may share the machine. */
const PORT = await freePorts(['origin', 'origin503', 'origin2', 'hold', 'holdControl', 'nginx', 'haproxy', 'fastify', 'portcullis', 'portcullisAdmin', 'redis'] as const)

async function freePorts<K extends string> (names: readonly K[]): Promise<Record<K, number>> {
  const servers = names.map(() => createServer())
  await Promise.all(servers.map(server => new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))))
  const ports = Object.fromEntries(names.map((name, i) => [name, (servers[i]!.address() as AddressInfo).port])) as Record<K, number>
  await Promise.all(servers.map(server => new Promise(resolve => server.close(resolve))))
  return ports
}
const EAS_PATH = '/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=BENCH1&DeviceType=iPhone'

interface Peer { name: string, start: (upstreamPort: number) => Promise<ChildProcess>, rssPid?: (child: ChildProcess) => number }
interface WrkResult { rps: number, p50: string, p99: string, errors: number }

const children = new Set<ChildProcess>()
process.on('exit', () => { for (const c of children) c.kill('SIGTERM') }) // nginx masters take their workers down

function launch (cmd: string, args: string[], cpu: number, env: Record<string, string> = {}): ChildProcess {
  const child = spawn('taskset', ['-c', String(cpu), cmd, ...args], { stdio: ['pipe', 'ignore', 'inherit'], env: { ...process.env, ...env } })
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 5000))])
  child.kill('SIGKILL')
}

async function waitForHttp (port: number, path = EAS_PATH): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    try {
      const res = await request(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: 'x', headers: { authorization: 'Basic YTpi' } })
      await res.body.dump()
      if (res.statusCode < 500) return
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`nothing answers on port ${port}`)
}

function nginxConf (name: string, body: string): string {
  const file = join(DIR, `${name}.conf`)
  writeFileSync(file, `worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid ${DIR}/${name}.pid;
error_log stderr error;
events { worker_connections 19000; }
http {
  access_log off;
  client_body_temp_path ${DIR}/${name}-body;
  proxy_temp_path ${DIR}/${name}-proxy;
  ${body}
}
`)
  return file
}

/** The fixed origin: nginx answering 200 with an 18-byte body (and a 503 server for the failover run). */
async function startOrigins (): Promise<ChildProcess> {
  const conf = nginxConf('origin', `
  server { listen 127.0.0.1:${PORT.origin} backlog=4096; keepalive_requests 10000000; client_max_body_size 50m;
    location / { return 200 "portcullis-bench-o"; } }
  server { listen 127.0.0.1:${PORT.origin2} backlog=4096; keepalive_requests 10000000; client_max_body_size 50m;
    location / { return 200 "portcullis-bench-o"; } }
  server { listen 127.0.0.1:${PORT.origin503} backlog=4096; keepalive_requests 10000000; client_max_body_size 50m;
    location / { return 503 "<h2>Service Unavailable</h2>"; } }`)
  const origin = launch('nginx', ['-c', conf], 0)
  await waitForHttp(PORT.origin)
  return origin
}

const peers: Peer[] = [
  {
    name: 'nginx 1 worker, upstream keepalive',
    start: async upstream => {
      const conf = nginxConf('nginx-proxy', `
  upstream backend { server 127.0.0.1:${upstream}; keepalive 128; }
  server { listen 127.0.0.1:${PORT.nginx} backlog=4096; keepalive_requests 10000000; client_max_body_size 50m;
    client_body_buffer_size 1m;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_read_timeout 3600s; } }`)
      const child = launch('nginx', ['-c', conf], 1)
      await waitForHttp(PORT.nginx)
      return child
    },
    rssPid: child => Number(execFileSync('pgrep', ['-P', String(nginxMaster(child))]).toString().trim().split('\n')[0])
  },
  {
    name: 'HAProxy 1 thread, http-reuse always',
    start: async upstream => {
      const conf = join(DIR, 'haproxy.cfg')
      writeFileSync(conf, `global
  nbthread 1
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 3600s
  timeout server 3600s
  http-reuse always
frontend fe
  bind 127.0.0.1:${PORT.haproxy}
  default_backend be
backend be
  server s1 127.0.0.1:${upstream} maxconn 9000
`)
      const child = launch('haproxy', ['-f', conf, '-db'], 1)
      await waitForHttp(PORT.haproxy)
      return child
    }
  },
  {
    name: '@fastify/http-proxy 11 (bare)',
    start: async upstream => {
      const child = launch(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/peers/fastify-http-proxy.ts'), String(PORT.fastify), `http://127.0.0.1:${upstream}`], 1, { BENCH_TUNED: upstream === PORT.hold ? '1' : '0' })
      await waitForHttp(PORT.fastify)
      return child
    }
  },
  {
    name: 'Portcullis (production config)',
    start: async upstream => startPortcullis([upstream])
  }
]

/** Portcullis as deployed: the shipped policy file, info logging (to /dev/null), metrics, health checks on; `extra` config appended. */
async function startPortcullis (servers: number[], extra = ''): Promise<ChildProcess> {
  const conf = join(DIR, `portcullis-${servers.join('-')}-${extra.length}.yaml`)
  writeFileSync(conf, `listen: { host: 127.0.0.1, port: ${PORT.portcullis} }
publicUrl: https://mobile.example.com
admin: { host: 127.0.0.1, port: ${PORT.portcullisAdmin} }
upstreams:
  exchange:
    servers: [${servers.map(p => `http://127.0.0.1:${p}`).join(', ')}]
    healthCheck: { path: /Microsoft-Server-ActiveSync, expect: [200, 401], intervalMs: 1000, timeoutMs: 1000 }
services: { activesync: { upstream: exchange } }
policies: ${join(ROOT, 'policies/policies.yaml')}
log: { level: info }
${extra}`)
  const child = launch(process.execPath, [join(ROOT, 'bin/portcullis.js'), 'start', '--config', conf], 1, { PORTCULLIS_BENCH_PROTECTION_KEY: Buffer.alloc(32, 9).toString('base64') })
  await waitForHttp(PORT.portcullis)
  return child
}

function nginxMaster (child: ChildProcess): number {
  // taskset execs nginx, so the child pid is the master
  return child.pid as number
}

function wrk (port: number, bodyBytes: number, duration: string): WrkResult {
  const script = join(DIR, `post-${bodyBytes}.lua`)
  writeFileSync(script, `wrk.method = "POST"
wrk.body = string.rep("a", ${bodyBytes})
wrk.headers["Content-Type"] = "application/vnd.ms-sync.wbxml"
wrk.headers["Authorization"] = "Basic YTpi"
wrk.headers["MS-ASProtocolVersion"] = "14.1"
wrk.headers["User-Agent"] = "Apple-iPhone9C1/1402.100"
`)
  const out = execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c50', `-d${duration}`, '--latency', '-s', script, `http://127.0.0.1:${port}${EAS_PATH}`]).toString()
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)
  const p50 = /\s50%\s+([\d.]+\w+)/.exec(out)?.[1] ?? '?'
  const p99 = /\s99%\s+([\d.]+\w+)/.exec(out)?.[1] ?? '?'
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?(\d+) timeout/.exec(out)?.[1] ?? 0)
  return { rps, p50, p99, errors }
}

/**
 * Median of ROUNDS measured runs per target after a warm-up. The rounds are interleaved (round 1 of
 * every target, then round 2, ...): this VM's neighbours make single runs vary by 2×, and measuring one
 * peer after another let a noisy minute land on one peer only.
 */
function throughputInterleaved (ports: Map<string, number>, bodyBytes: number): Map<string, WrkResult> {
  for (const port of ports.values()) wrk(port, bodyBytes, '3s') // warm-up
  const runs = new Map<string, WrkResult[]>([...ports.keys()].map(name => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, port] of ports) runs.get(name)!.push(wrk(port, bodyBytes, DURATION))
  }
  return new Map([...runs].map(([name, list]) => {
    const sorted = list.sort((a, b) => a.rps - b.rps)
    return [name, { ...sorted[Math.floor(sorted.length / 2)] as WrkResult, errors: list.reduce((n, r) => n + r.errors, 0) }]
  }))
}

function rssKb (pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
}

async function heldCount (): Promise<number> {
  const res = await request(`http://127.0.0.1:${PORT.holdControl}/held`)
  return Number(await res.body.text())
}

async function timedOrdinaryRequest (port: number): Promise<number> {
  const started = performance.now()
  const res = await request(`http://127.0.0.1:${port}${EAS_PATH}`, { method: 'POST', body: 'x', headers: { authorization: 'Basic YTpi' }, headersTimeout: 10_000 })
  await res.body.dump()
  return performance.now() - started
}

/**
 * RSS growth per held Ping and an ordinary request's latency while they are held. Both readings are taken
 * once the process has settled (3 s after start; RSS sampled every 5 s for 30 s after the last Ping, the
 * last sample used): a held Ping lasts up to an hour, so its steady cost is what sizes a gateway. A
 * garbage-collected peer read right after the burst of 5,000 connections still holds the garbage of
 * accepting them until V8's memory reducer runs, 5 to 20 s later (Portcullis: 200 MB at 5 s, 190 MB
 * from 10 s on, in one run; 202-204 MB read at 15 s in runs where it had not yet run).
 */
async function held (peer: Peer, port: number): Promise<{ perHeldKb: number, reached: number, ordinaryMs: string }> {
  const child = await peer.start(PORT.hold)
  const pid = peer.rssPid ? peer.rssPid(child) : child.pid as number
  await new Promise(resolve => setTimeout(resolve, 3000))
  const before = rssKb(pid)
  const clients = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/peers/held-clients.ts'), String(port), String(HELD)], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.add(clients)
  const deadline = Date.now() + 60_000
  let reached = 0
  while (Date.now() < deadline) {
    reached = await heldCount()
    if (reached >= HELD) break
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  const samples: number[] = []
  for (let waited = 0; waited < SETTLE_MS; waited += 5000) {
    await new Promise(resolve => setTimeout(resolve, 5000))
    samples.push(rssKb(pid))
  }
  process.stderr.write(`${peer.name}: RSS every 5 s after the last Ping: ${samples.join(', ')} KB\n`)
  reached = await heldCount()
  const after = rssKb(pid)
  const ordinaryMs = await timedOrdinaryRequest(port).then(ms => ms.toFixed(1), () => 'no answer in 10 s')
  clients.stdin?.end()
  await stop(clients)
  await stop(child)
  await new Promise(resolve => setTimeout(resolve, 500))
  process.stderr.write(`${peer.name}: RSS ${before} KB before, ${after} KB with ${reached} held\n`)
  return { perHeldKb: (after - before) / Math.max(reached, 1), reached, ordinaryMs }
}

function portOf (peer: Peer): number {
  return [PORT.nginx, PORT.haproxy, PORT.fastify, PORT.portcullis][peers.indexOf(peer)] as number
}

/** The 1 KB and 100 KB rounds across every peer, then the failover run (skipped with BENCH_ONLY=held). */
async function throughputAndFailover (lines: string[]): Promise<void> {
  const origin = await startOrigins()
  // Every peer runs at once on CPU 1 (an idle one costs nothing) so that the rounds can interleave.
  const running = await Promise.all(peers.map(peer => peer.start(PORT.origin)))
  const targets = new Map<string, number>([['direct to origin (rig ceiling)', PORT.origin], ...peers.map(peer => [peer.name, portOf(peer)] as [string, number])])
  const bySize = new Map([1024, 102_400].map(size => [size, throughputInterleaved(targets, size)]))
  for (const child of running) await stop(child)
  const nginx = peers[0]!.name
  const fastify = peers[2]!.name
  for (const [size, results] of bySize) {
    lines.push(`### ${size === 1024 ? '1 KB' : '100 KB'} ActiveSync-like POST`, '', '| peer | req/s | p50 | p99 | errors | × nginx | × @fastify/http-proxy |', '|---|---:|---:|---:|---:|---:|---:|')
    for (const [name, x] of results) {
      lines.push(`| ${name} | ${Math.round(x.rps)} | ${x.p50} | ${x.p99} | ${x.errors} | ${(x.rps / results.get(nginx)!.rps).toFixed(2)} | ${(x.rps / results.get(fastify)!.rps).toFixed(2)} |`)
    }
    lines.push('')
  }

  // One of three servers answering 503: Portcullis must fail over and eject it. The two configurations
  // run one after the other (same port), so they alternate round by round.
  const pools = { healthy: [PORT.origin, PORT.origin2, PORT.origin], degraded: [PORT.origin, PORT.origin2, PORT.origin503] }
  const failover = { healthy: [] as WrkResult[], degraded: [] as WrkResult[] }
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ['healthy', 'degraded'] as const) {
      const child = await startPortcullis(pools[kind])
      wrk(PORT.portcullis, 1024, '3s')
      failover[kind].push(wrk(PORT.portcullis, 1024, DURATION))
      await stop(child)
    }
  }
  const median = (list: WrkResult[]): WrkResult => ({ ...list.sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)] as WrkResult, errors: list.reduce((n, r) => n + r.errors, 0) })
  const allHealthy = median(failover.healthy)
  const oneBroken = median(failover.degraded)
  lines.push('### Portcullis, pool of three, one answering 503 (1 KB POST)', '', '| pool | req/s | p50 | p99 | client-visible errors | × all healthy |', '|---|---:|---:|---:|---:|---:|')
  lines.push(`| all healthy | ${Math.round(allHealthy.rps)} | ${allHealthy.p50} | ${allHealthy.p99} | ${allHealthy.errors} | 1.00 |`)
  lines.push(`| one of three answers 503 | ${Math.round(oneBroken.rps)} | ${oneBroken.p50} | ${oneBroken.p99} | ${oneBroken.errors} | ${(oneBroken.rps / allHealthy.rps).toFixed(2)} |`, '')
  await stop(origin)
}

const PROTECTION = `protection:
  keyEnv: PORTCULLIS_BENCH_PROTECTION_KEY
  directory: { lockoutThreshold: 5, observationWindowMinutes: 30 }
`

/**
 * Account protection's cost per request on the 1 KB POST (every request carries Basic credentials and
 * succeeds, so each one is checked and learnt from): without it, with the memory store, with Redis.
 * The three run one after another on the same port, alternating round by round.
 */
async function protectionCost (lines: string[]): Promise<void> {
  const origin = await startOrigins()
  const redis = launch('redis-server', ['--port', String(PORT.redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 0)
  await new Promise(resolve => setTimeout(resolve, 500))
  const configs = {
    'without protection': '',
    'protection, memory store': PROTECTION,
    'protection, Redis store': `store: { type: redis, redis: { url: "redis://127.0.0.1:${PORT.redis}", keyPrefix: "bench:" } }\n${PROTECTION}`
  }
  const results = new Map<string, WrkResult[]>(Object.keys(configs).map(name => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, extra] of Object.entries(configs)) {
      const child = await startPortcullis([PORT.origin], extra)
      wrk(PORT.portcullis, 1024, '3s')
      results.get(name)!.push(wrk(PORT.portcullis, 1024, DURATION))
      await stop(child)
    }
  }
  const median = (list: WrkResult[]): WrkResult => list.sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)] as WrkResult
  const base = median(results.get('without protection')!)
  lines.push('### Account protection\'s cost (1 KB POST, Basic credentials, every request checked and learnt from)', '', '| Portcullis | req/s | p50 | p99 | errors | × without | µs per request added |', '|---|---:|---:|---:|---:|---:|---:|')
  for (const [name, list] of results) {
    const m = median(list)
    const added = name === 'without protection' ? '' : ((1e6 / m.rps) - (1e6 / base.rps)).toFixed(0)
    lines.push(`| ${name} | ${Math.round(m.rps)} | ${m.p50} | ${m.p99} | ${m.errors} | ${(m.rps / base.rps).toFixed(2)} | ${added} |`)
  }
  lines.push('')
  await stop(redis)
  await stop(origin)
}

async function main (): Promise<void> {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s+:\s+(.*)/)?.[1] ?? 'unknown CPU'
  const lines: string[] = [`## Benchmark run ${new Date().toISOString()}`, '', `Node ${process.version}, ${cpu}, peers on CPU 1, wrk and origins on CPU 0; wrk -t1 -c50, 3 s warm-up, median of ${ROUNDS} runs of ${DURATION}.`, '']
  if (process.env.BENCH_ONLY === 'protection') {
    await protectionCost(lines)
    process.stdout.write(lines.join('\n') + '\n')
    return
  }
  if (process.env.BENCH_ONLY !== 'held') {
    await throughputAndFailover(lines)
    await protectionCost(lines)
  }

  lines.push(`### ${HELD} held Pings`, '', '| peer | held reached | RSS per held request | ordinary request while held |', '|---|---:|---:|---:|')
  for (const peer of peers.filter(p => new RegExp(process.env.BENCH_PEER ?? '').test(p.name))) {
    // A fresh holding origin per peer: one that still tears down the previous peer's 5,000 connections
    // slows the next peer's burst (measured: Portcullis read 12.6-13.1 KB after the others, 9.5 KB alone).
    const hold = launch(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/peers/hold-origin.ts'), String(PORT.hold), String(PORT.holdControl)], 0)
    await new Promise(resolve => setTimeout(resolve, 1500))
    const r = await held(peer, portOf(peer))
    lines.push(`| ${peer.name} | ${r.reached} | ${r.perHeldKb.toFixed(1)} KB | ${r.ordinaryMs} ms |`)
    await stop(hold)
  }
  lines.push('', '@fastify/http-proxy runs with `connections: null` and timeouts 0 for this workload: with its defaults only 128 requests per origin get through.', '')
  const report = lines.join('\n')
  process.stdout.write(report + '\n')
  writeFileSync(join(ROOT, 'bench/results', `${new Date().toISOString().slice(0, 10)}.md`), report + '\n')
}

main().then(() => process.exit(0), err => { process.stderr.write(String(err?.stack ?? err) + '\n'); process.exit(1) })
