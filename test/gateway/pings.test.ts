import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fakeExchange } from '../../gateway/lab/fake-exchange.js'
import { encodeWbxml } from '../../gateway/protocols/wbxml/codec.js'
import { closeAfter, startTestGateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { libwbxml } from '../helpers/libwbxml.js'
import { waitFor } from '../helpers/ports.js'

const BASIC = 'Basic ' + Buffer.from('alice:pw').toString('base64')

function ping (url: string, device: string, body?: Buffer): ReturnType<typeof send> {
  return send(`${url}/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=${device}&DeviceType=iPhone`, {
    method: 'POST',
    headers: { authorization: BASIC, 'ms-asprotocolversion': '16.1', 'content-type': 'application/vnd.ms-sync.wbxml', 'user-agent': 'Apple-iPhone15C2/2104.154' },
    body: body ?? Buffer.alloc(0)
  })
}

test('two Pings of one device: the older one is answered Status 1 at once and only one is held upstream', { timeout: 30_000 }, async t => {
  const exchange = fakeExchange('exch', { pingHoldMs: 600_000 })
  await exchange.listen()
  closeAfter(t, exchange)
  const { gateway, logs } = await startTestGateway(t, { upstreams: { exchange: { servers: [exchange.url] } }, services: { activesync: { upstream: 'exchange' } } })
  const first = ping(gateway.url, 'PHONE1')
  await waitFor(async () => exchange.heldCount === 1 ? true : undefined, 5000, 'the first Ping held')
  const second = ping(gateway.url, 'PHONE1')
  const other = ping(gateway.url, 'PHONE2') // another device keeps its own
  const older = await first
  assert.equal(older.status, 200)
  assert.equal(libwbxml(older.body), libwbxml(encodeWbxml({ name: 'Ping:Ping', children: [{ name: 'Ping:Status', text: '1' }] })))
  await waitFor(async () => exchange.heldCount === 2 ? true : undefined, 5000, 'one Ping per device held upstream')
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(exchange.heldCount, 2)
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, /portcullis_longpolls_ended_early_total\{service="activesync",by="superseded"\} 1/)
  assert.ok(logs.find('request').some(l => l.code === 'GW_PING_SUPERSEDED'))
  exchange.newMail()
  assert.equal((await second).status, 200)
  assert.equal((await other).status, 200)
})

test('a Ping asking for a heartbeat outside the allowed range gets Status 5 and the allowed value, decoded by libwbxml', { timeout: 30_000 }, async t => {
  const exchange = fakeExchange('exch', { pingHoldMs: 50 })
  await exchange.listen()
  closeAfter(t, exchange)
  const { gateway } = await startTestGateway(t, { upstreams: { exchange: { servers: [exchange.url] } }, services: { activesync: { upstream: 'exchange' } }, activesync: { maxHeartbeatSeconds: 1500, minHeartbeatSeconds: 300 } })
  const body = (seconds: number): Buffer => encodeWbxml({ name: 'Ping:Ping', children: [{ name: 'Ping:HeartbeatInterval', text: String(seconds) }, { name: 'Ping:Folders', children: [{ name: 'Ping:Folder', children: [{ name: 'Ping:Id', text: '1' }, { name: 'Ping:Class', text: 'Email' }] }] }] })
  const tooLong = await ping(gateway.url, 'HB1', body(3540))
  assert.equal(tooLong.status, 200)
  assert.match(libwbxml(tooLong.body), /<Ping xmlns="Ping:"><Status>5<\/Status><HeartbeatInterval>1500<\/HeartbeatInterval><\/Ping>/)
  const tooShort = await ping(gateway.url, 'HB1', body(60))
  assert.match(libwbxml(tooShort.body), /<Status>5<\/Status><HeartbeatInterval>300<\/HeartbeatInterval>/)
  assert.equal(exchange.received.filter(r => r.url.includes('HB1')).length, 0, 'neither reached Exchange')
  const fine = await ping(gateway.url, 'HB1', body(900))
  assert.equal(fine.status, 200)
  assert.equal(exchange.received.filter(r => r.url.includes('HB1')).length, 1)
})
