import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

// Before/after on one rig: `node --import tsx bench/ab.ts <other checkout> [rounds]` runs the 1 KB POST
// against this checkout's gateway and another checkout's (say, the commit before a change), alternating
// round by round (this VM's neighbours make single runs vary by 2×), and prints both series and means.
// Gateway on CPU 1, wrk and the origin (a tiny node server answering 200) on CPU 0.
const [other = '', roundsArg = '5'] = process.argv.slice(2)
if (!other) throw new Error('usage: bench/ab.ts <other checkout> [rounds]')
const ROOTS = { this: resolve(import.meta.dirname, '..'), other: resolve(other) }
const DIR = mkdtempSync(join(tmpdir(), 'portcullis-ab-'))
const ports = await Promise.all([0, 1, 2].map(() => new Promise<number>(resolve => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)) }) })))
const [originPort, gatewayPort, adminPort] = ports as [number, number, number]
const origin = spawn('taskset', ['-c', '0', 'nginx', '-c', nginxConf()], { stdio: 'ignore' })
process.on('exit', () => origin.kill())
await new Promise(resolve => setTimeout(resolve, 500))

function nginxConf (): string {
  const file = join(DIR, 'origin.conf')
  writeFileSync(file, `daemon off; worker_processes 1; pid ${DIR}/nginx.pid; error_log /dev/null; events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:${originPort} backlog=4096; keepalive_requests 10000000; location / { return 200 "portcullis-ab"; } } }`)
  return file
}

async function start (root: string): Promise<ChildProcess> {
  const conf = join(DIR, 'gateway.yaml')
  writeFileSync(conf, `listen: { host: 127.0.0.1, port: ${gatewayPort} }
publicUrl: https://mobile.example.com
admin: { host: 127.0.0.1, port: ${adminPort} }
upstreams: { exchange: { servers: [http://127.0.0.1:${originPort}] } }
services: { activesync: { upstream: exchange } }
policies: ${join(root, 'policies/policies.yaml')}
`)
  const child = spawn('taskset', ['-c', '1', process.execPath, join(root, 'bin/portcullis.js'), 'start', '--config', conf], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>(resolve => request({ port: gatewayPort, host: '127.0.0.1', path: '/' }, res => { res.resume(); resolve(true) }).on('error', () => resolve(false)).end())
    if (up) return child
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`the gateway of ${root} did not start`)
}

function wrk (seconds: number): number {
  const script = join(DIR, 'post.lua')
  writeFileSync(script, 'wrk.method = "POST"\nwrk.body = string.rep("a", 1024)\nwrk.headers["Content-Type"] = "application/vnd.ms-sync.wbxml"\nwrk.headers["Authorization"] = "Basic YTpi"\nwrk.headers["MS-ASProtocolVersion"] = "14.1"\nwrk.headers["User-Agent"] = "Apple-iPhone9C1/1402.100"\n')
  const out = execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c50', `-d${seconds}s`, '-s', script, `http://127.0.0.1:${gatewayPort}/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=BENCH1&DeviceType=iPhone`]).toString()
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)
}

const series: Record<keyof typeof ROOTS, number[]> = { this: [], other: [] }
for (let round = 0; round < Number(roundsArg); round++) {
  for (const which of (round % 2 === 0 ? ['other', 'this'] : ['this', 'other']) as Array<keyof typeof ROOTS>) {
    const child = await start(ROOTS[which])
    wrk(3)
    series[which].push(Math.round(wrk(10)))
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
  }
}
const mean = (list: number[]): number => Math.round(list.reduce((a, b) => a + b, 0) / list.length)
process.stdout.write(`1 KB POST req/s, alternating: ${ROOTS.other}: ${series.other.join(' / ')} (mean ${mean(series.other)}); ${ROOTS.this}: ${series.this.join(' / ')} (mean ${mean(series.this)}); this / other = ${(mean(series.this) / mean(series.other)).toFixed(3)}\n`)
process.exit(0)
