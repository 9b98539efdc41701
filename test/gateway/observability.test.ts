import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { send } from '../helpers/http.js'
import { freePort, waitFor } from '../helpers/ports.js'
import { exchangeAndSkype } from '../helpers/topology.js'

const SECRET = 'hunter2-Sup3rSecret'
const BASIC = 'Basic ' + Buffer.from(`alice:${SECRET}`).toString('base64')

test('one JSON log line per request with service, command, status, server and duration; no credentials', async t => {
  const { gateway, logs, exchange } = await exchangeAndSkype(t)
  await send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: BASIC, cookie: `session=${SECRET}` } })
  await send(`${gateway.url}/EWS/Exchange.asmx?creds=${SECRET}&id=1`, { method: 'POST', body: '<x/>', headers: { authorization: `Bearer ${SECRET}` } })
  const lines = logs.find('request')
  assert.equal(lines.length, 2)
  assert.deepEqual(
    { service: lines[0]?.service, command: lines[0]?.command, status: lines[0]?.status, server: lines[0]?.server, upstream: lines[0]?.upstream },
    { service: 'activesync', command: 'FolderSync', status: 200, server: new URL(exchange.url).host, upstream: 'exchange' }
  )
  assert.equal(typeof lines[0]?.durationMs, 'number')
  assert.equal(lines[1]?.path, '/EWS/Exchange.asmx')
  assert.ok(!logs.raw.includes(SECRET), 'no secret in any log line')
  assert.ok(!logs.raw.includes(Buffer.from(`alice:${SECRET}`).toString('base64')), 'no encoded credentials either')
})

test('metrics: requests by service and status class, durations without long-polls, long-polls in flight', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>', headers: { authorization: BASIC } })
  await send(`${gateway.url}/owa/`)
  const ping = send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: BASIC } })
  await waitFor(async () => exchange.heldCount === 1 ? true : undefined, 5000, 'the Ping to be held')
  const text = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(text, /portcullis_requests_total\{service="ews",status_class="2xx"\} 1/)
  assert.match(text, /portcullis_requests_total\{service="none",status_class="4xx"\} 1/)
  assert.match(text, /portcullis_longpolls_in_flight\{service="activesync"\} 1/)
  assert.match(text, /portcullis_request_duration_seconds_count\{service="ews"\} 1/)
  assert.match(text, /process_resident_memory_bytes/)
  assert.doesNotMatch(text, /alice|D1|Exchange\.asmx/, 'no user, device or URL in any label')
  exchange.newMail()
  assert.equal((await ping).status, 200)
  const after = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(after, /portcullis_longpolls_in_flight\{service="activesync"\} 0/)
  assert.doesNotMatch(after, /portcullis_request_duration_seconds_count\{service="activesync"\}/, 'long-polls stay out of the latency histogram')
})

test('healthz and readyz answer on the admin listener', async t => {
  const { gateway } = await exchangeAndSkype(t)
  assert.equal((await send(`${gateway.adminUrl}/healthz`)).status, 200)
  const ready = await send(`${gateway.adminUrl}/readyz`)
  assert.equal(ready.status, 200)
  assert.equal(JSON.parse(ready.body.toString()).status, 'ready')
})

test('a real Prometheus server scrapes the admin listener and holds the gateway series', { timeout: 60_000 }, async t => {
  const { gateway } = await exchangeAndSkype(t)
  await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>', headers: { authorization: BASIC } })
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-prom-'))
  writeFileSync(join(dir, 'prometheus.yml'), `global: { scrape_interval: 1s }
scrape_configs:
  - job_name: portcullis
    static_configs: [{ targets: ['${new URL(gateway.adminUrl).host}'] }]
`)
  const port = await freePort()
  const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' })
  t.after(() => { prometheus.kill('SIGTERM') })
  const result = await waitFor(async () => {
    const res = await send(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('portcullis_requests_total{service="ews"}')}`)
    const data = JSON.parse(res.body.toString()) as { data?: { result?: Array<{ metric: Record<string, string>, value: [number, string] }> } }
    return data.data?.result?.length ? data.data.result : undefined
  }, 45_000, 'Prometheus to scrape the gateway')
  assert.equal(result[0]?.metric.status_class, '2xx')
  assert.equal(result[0]?.value[1], '1')
  const up = await send(`http://127.0.0.1:${port}/api/v1/query?query=up`)
  assert.match(up.body.toString(), /"value":\[[\d.]+,"1"\]/)
})
