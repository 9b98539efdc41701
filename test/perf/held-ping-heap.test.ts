import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { closeAfter } from '../helpers/gateway.js'

/**
 * The README's budget for one held Ping on the gateway's heap ("Performance"): the attempt loop is
 * callback-driven and the request state small precisely so that this holds. Measured 9.4-11.0 KB (Node 20 and 24).
 */
const HEAP_BUDGET_BYTES = 12 * 1024
const HELD = 300

test(`a held Ping costs the gateway less than ${HEAP_BUDGET_BYTES / 1024} KB of heap (${HELD} held, heap after full collections)`, { timeout: 120_000 }, async t => {
  const exchange = fakeExchange('exch01', { pingHoldMs: 600_000 })
  await exchange.listen()
  closeAfter(t, exchange)
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-heap-'))
  writeFileSync(join(dir, 'policy.yaml'), 'rules:\n  - name: block-outlook-cloud\n    match: { userAgent: "Outlook-iOS-Android/*" }\n    action: block\n')
  writeFileSync(join(dir, 'config.yaml'), [
    'publicUrl: https://mobile.example.com',
    'listen: { host: 127.0.0.1, port: 0 }',
    'admin: { host: 127.0.0.1, port: 0 }',
    `upstreams: { exchange: { servers: ["${exchange.url}"] } }`,
    'services: { activesync: { upstream: exchange } }',
    'policies: policy.yaml'
  ].join('\n'))
  // No coverage collection in the measured process: it would weigh on the heap, and whether a killed
  // child wrote its coverage would make the suite's figures vary from run to run.
  const { NODE_V8_COVERAGE: _coverage, ...env } = process.env
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, 'heap-gateway.ts'), join(dir, 'config.yaml')], { stdio: ['pipe', 'pipe', 'inherit'], env })
  t.after(() => { child.stdin.end(); child.kill() })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<Record<string, number | string>> => JSON.parse((await lines.next()).value as string) as Record<string, number | string>
  const { url } = await next()
  const port = Number(new URL(url as string).port)
  const measure = async (): Promise<number> => { child.stdin.write('measure\n'); return (await next()).heapUsed as number }

  const sockets: Socket[] = []
  t.after(() => { for (const s of sockets) s.destroy() })
  const ping = (i: number, round: string): void => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /Microsoft-Server-ActiveSync?Cmd=Ping&User=u${i}&DeviceId=${round}${i}&DeviceType=iPhone HTTP/1.1\r\nHost: mobile.example.com\r\n` +
        'User-Agent: Apple-iPhone15C2/2104.154\r\nAuthorization: Basic dTE6cGFzcw==\r\nMS-ASProtocolVersion: 16.1\r\nContent-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: 0\r\n\r\n')
    })
    socket.on('error', () => {})
    sockets.push(socket)
  }
  const heldReach = async (count: number): Promise<void> => {
    for (let waited = 0; exchange.heldCount < count; waited += 20) {
      assert.ok(waited < 60_000, `only ${exchange.heldCount} of ${count} Pings reached the upstream`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
  // Warm-up: code compiled, pools and maps at their working size; then the baseline.
  for (let i = 0; i < 50; i++) ping(i, 'W')
  await heldReach(50)
  const before = await measure()
  for (let i = 0; i < HELD; i++) ping(i, 'D')
  await heldReach(50 + HELD)
  await new Promise(resolve => setTimeout(resolve, 200))
  const after = await measure()
  const perHeld = (after - before) / HELD
  t.diagnostic(`heap per held Ping: ${(perHeld / 1024).toFixed(2)} KB`)
  assert.ok(perHeld < HEAP_BUDGET_BYTES, `a held Ping costs ${(perHeld / 1024).toFixed(2)} KB of heap, over the ${HEAP_BUDGET_BYTES / 1024} KB budget`)
})
