import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { decodeWbxml, findText } from '../../gateway/protocols/wbxml/codec.js'
import { spawnCli } from '../helpers/cli.js'
import { closeAfter } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { waitFor } from '../helpers/ports.js'

test('SIGTERM: ordinary requests finish, held Pings end with "no changes", the process exits 0', { timeout: 30_000 }, async t => {
  const origin = new SimServer('exch', (req, res) => {
    if (req.url?.includes('Cmd=Ping')) return origin.hold(res)
    setTimeout(() => { res.writeHead(200, { 'content-length': 4 }); res.end('done') }, 800)
  })
  await origin.listen()
  closeAfter(t, origin)
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-shutdown-'))
  const file = join(dir, 'config.yaml')
  writeFileSync(file, `listen: { host: 127.0.0.1, port: 0, shutdownGraceMs: 5000 }
publicUrl: https://mobile.example.com
admin: { host: 127.0.0.1, port: 0 }
upstreams: { exchange: { servers: ['${origin.url}'] } }
services: { activesync: { upstream: exchange }, ews: { upstream: exchange } }
`)
  const { child, output } = await spawnCli(['start', '--config', file], '"gateway listening"')
  const url = /"url":"([^"]+)"/.exec(output())?.[1] as string
  const ping = send(`${url}/Microsoft-Server-ActiveSync?Cmd=Ping&User=a&DeviceId=D&DeviceType=T`, { method: 'POST', body: 'x' })
  await waitFor(async () => origin.heldCount === 1 ? true : undefined, 5000, 'the Ping to be held')
  const slow = send(`${url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>' })
  await waitFor(async () => origin.received.length === 2 ? true : undefined, 5000, 'the slow request to arrive')
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  child.kill('SIGTERM')
  const [slowRes, pingRes, code] = await Promise.all([slow, ping, exited])
  assert.equal(slowRes.status, 200)
  assert.equal(slowRes.body.toString(), 'done')
  assert.equal(pingRes.status, 200)
  assert.equal(findText(decodeWbxml(pingRes.body), 'Ping:Status'), '1')
  assert.equal(code, 0)
  await assert.rejects(send(`${url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>' }), 'no longer accepting')
})
