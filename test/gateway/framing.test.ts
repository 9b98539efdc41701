import assert from 'node:assert/strict'
import { test } from 'node:test'
import { portOf, rawExchange, send } from '../helpers/http.js'
import { exchangeAndSkype } from '../helpers/topology.js'

const EAS = '/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=D&DeviceType=T'

test('malformed framing gets 400 or 431, reaches no upstream, and the gateway lives on', async t => {
  const { gateway, exchange } = await exchangeAndSkype(t)
  const port = portOf(gateway.url)
  const cases: Array<[string, string, RegExp]> = [
    ['Content-Length with Transfer-Encoding', `POST ${EAS} HTTP/1.1\r\nHost: m\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, /^HTTP\/1\.1 400 /],
    ['two different Content-Lengths', `POST ${EAS} HTTP/1.1\r\nHost: m\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, /^HTTP\/1\.1 400 /],
    ['bad chunk size', `POST ${EAS} HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, /^HTTP\/1\.1 400 /],
    ['oversized head', `POST ${EAS} HTTP/1.1\r\nHost: m\r\nX-Big: ${'a'.repeat(40_000)}\r\nContent-Length: 0\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ['no Host', `POST ${EAS} HTTP/1.1\r\nContent-Length: 0\r\n\r\n`, /^HTTP\/1\.1 400 /],
    ['two Hosts', `POST ${EAS} HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n`, /^HTTP\/1\.1 400 /],
    ['garbage', 'HELLO THERE\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['bad percent-encoding', 'GET /EWS/%E0%A4%A HTTP/1.1\r\nHost: m\r\n\r\n', /^HTTP\/1\.1 400 /]
  ]
  for (const [name, payload, expected] of cases) {
    const answer = await rawExchange(port, payload, 1500)
    assert.match(answer, expected, name)
  }
  assert.equal(exchange.received.length, 0, 'nothing reached Exchange')
  const ok = await send(gateway.url + '/EWS/Exchange.asmx', { method: 'POST', body: '<x/>', headers: { authorization: 'Basic YTpi' } })
  assert.equal(ok.status, 200)
})
