import assert from 'node:assert/strict'
import { test } from 'node:test'
import { client, send } from '../helpers/http.js'
import { waitFor } from '../helpers/ports.js'
import { exchangeAndSkype } from '../helpers/topology.js'
import { decodeWbxml, findText } from '../../gateway/protocols/wbxml/codec.js'

const BASIC = 'Basic ' + Buffer.from('alice:secret').toString('base64')
const HELD = 600

test(`${HELD} held Pings and UCWA event P-GETs never make an ordinary request wait`, { timeout: 60_000 }, async t => {
  const { gateway, exchange, skype } = await exchangeAndSkype(t)
  const agent = client()
  t.after(() => agent.destroy())
  const held: Array<Promise<unknown>> = []
  for (let i = 0; i < HELD; i++) {
    held.push(send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=Ping&User=u${i}&DeviceId=D${i}&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: BASIC }, dispatcher: agent }).catch(() => undefined))
  }
  for (let i = 0; i < 50; i++) {
    held.push(send(`${gateway.url}/ucwa/oauth/v1/applications/1/events?ack=1`, { headers: { authorization: 'Bearer cwt=x' }, dispatcher: agent }).catch(() => undefined))
  }
  await waitFor(async () => exchange.heldCount === HELD && skype.heldCount === 50 ? true : undefined, 30_000, 'every long-poll to reach its server')
  // With undici's per-origin cap of 128 (reply-from's default) this would queue behind the held ones.
  const ordinary = await send(`${gateway.url}/EWS/Exchange.asmx`, { method: 'POST', body: '<x/>', headers: { authorization: BASIC }, dispatcher: agent })
  assert.equal(ordinary.status, 200)
  const metrics = (await send(`${gateway.adminUrl}/metrics`)).body.toString()
  assert.match(metrics, new RegExp(`portcullis_longpolls_in_flight\\{service="activesync"\\} ${HELD}`))
  assert.match(metrics, /portcullis_longpolls_in_flight\{service="ucwa"\} 50/)
  assert.equal(exchange.newMail(), HELD)
  await Promise.all(held.slice(0, HELD))
})

test('a Ping answered by Exchange reaches the device intact', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  const ping = send(`${gateway.url}/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=D1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: BASIC } })
  await waitFor(async () => exchange.heldCount === 1 ? true : undefined, 5000, 'the Ping to be held')
  exchange.newMail()
  const res = await ping
  assert.equal(res.status, 200)
  assert.equal(findText(decodeWbxml(res.body), 'Ping:Status'), '2')
})
