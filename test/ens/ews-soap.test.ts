import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { getItemRequest, readGetItemResponse, soapFaultCode } from '../../ens/ews-soap.js'
import { NotificationParseError, parseSendNotification } from '../../ens/send-notification.js'

// Captured and synthetic samples in test/fixtures/ews (Exchange 2013-2019 shapes).
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/ews/${name}.xml`, import.meta.url), 'utf8')
const ITEM = 'AAMkADWksSoxnvZW7DsOXplFAkh3DySPwN2pj3TT06213A5i55llqgcQ8viaWjMrGrBGAAAAAAB3Z8mQFQctGlyTp78vUkyzzLWdBPmsF9DBr9SwncYEIp2P3JDBtU2Z99zpwUyAAA='
const SUBSCRIPTION = 'FgBtYngwMS5jb3JwLmV4YW1wbGUuY29tEAAAAKSOGykrhaUMHeFn6HhIEAn6RG1xU/Mv9Q=='

test('SendNotification samples: new mail (Created + NewMail), heartbeat, ErrorReadEventsFailed', () => {
  const mail = parseSendNotification(fixture('send-notification-new-mail'))
  assert.equal(mail.responseClass, 'Success')
  assert.equal(mail.subscriptionId, SUBSCRIPTION)
  assert.deepEqual(mail.events.map(e => [e.type, e.itemId]), [['CreatedEvent', ITEM], ['NewMailEvent', ITEM]])
  assert.equal(mail.events[1]?.watermark, 'AQAAAGNgk/pX+i+e/Y02rJdn54jrAx0AAAAAAAE=')

  const status = parseSendNotification(fixture('send-notification-status-event'))
  assert.deepEqual(status.events.map(e => [e.type, e.itemId]), [['StatusEvent', undefined]])

  const error = parseSendNotification(fixture('send-notification-error-read-events-failed'))
  assert.equal(error.responseClass, 'Error')
  assert.equal(error.responseCode, 'ErrorReadEventsFailed')
  assert.equal(error.subscriptionId, SUBSCRIPTION)
  assert.deepEqual(error.events, [])
})

test('SendNotification is read by namespace: other prefixes and default namespaces give the same result', () => {
  const original = fixture('send-notification-new-mail')
  const renamed = original.replace(/soap11:/g, 'S:').replace(/xmlns:soap11=/g, 'xmlns:S=')
    .replace(/\bm:/g, 'msg:').replace(/xmlns:m=/g, 'xmlns:msg=')
    .replace(/\bt:/g, 'types:').replace(/xmlns:t=/g, 'xmlns:types=')
  assert.notEqual(renamed, original)
  assert.deepEqual(parseSendNotification(renamed), parseSendNotification(original))
  const defaults = '<?xml version="1.0"?><Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>' +
    '<SendNotification xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><ResponseMessages><SendNotificationResponseMessage ResponseClass="Success">' +
    '<ResponseCode>NoError</ResponseCode><Notification><SubscriptionId xmlns="http://schemas.microsoft.com/exchange/services/2006/types">sub-1</SubscriptionId>' +
    '<NewMailEvent xmlns="http://schemas.microsoft.com/exchange/services/2006/types"><Watermark>w</Watermark><ItemId Id="item-1"/></NewMailEvent>' +
    '</Notification></SendNotificationResponseMessage></ResponseMessages></SendNotification></Body></Envelope>'
  const parsed = parseSendNotification(defaults)
  assert.equal(parsed.subscriptionId, 'sub-1')
  assert.deepEqual(parsed.events, [{ type: 'NewMailEvent', itemId: 'item-1', watermark: 'w' }])
  // Right local names in the wrong namespace are not a SendNotification.
  assert.throws(() => parseSendNotification(defaults.replace('services/2006/messages', 'services/2006/other')), NotificationParseError)
})

test('SendNotification parsing refuses what is not one: not XML, a DOCTYPE (entity expansion), another operation', () => {
  assert.throws(() => parseSendNotification('{"json": true}'), NotificationParseError)
  assert.throws(() => parseSendNotification('<a><b></a>'), NotificationParseError)
  const laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>' +
    fixture('send-notification-new-mail').replace(/^[\s\S]*?(<soap11:Envelope)/, '$1').replace('NoError', '&lol2;')
  assert.throws(() => parseSendNotification(laughs), NotificationParseError)
  assert.throws(() => parseSendNotification(fixture('getitem-response-subject-from')), /not a SendNotification/)
})

test('GetItem: the request is the bytes ews-javascript-api sends; the response sample gives subject and sender', () => {
  const captured = fixture('getitem-request-subject-from').replace(/<!--[\s\S]*?-->\s*/, '').trim()
  assert.equal(getItemRequest(ITEM), captured.replace(/\n/g, ''))
  assert.match(getItemRequest('a"b<c&d'), /Id="a&quot;b&lt;c&amp;d"/, 'item ids are XML-escaped')
  assert.deepEqual(readGetItemResponse(fixture('getitem-response-subject-from')), { kind: 'item', subject: 'Q3 budget & forecast review', from: 'Dana Example' })
  const notFound = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">' +
    '<m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Error"><m:MessageText>The specified object was not found in the store.</m:MessageText>' +
    '<m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:Items/></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>'
  assert.deepEqual(readGetItemResponse(notFound), { kind: 'item_error', code: 'ErrorItemNotFound' })
  const busy = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>' +
    '<faultstring>The server cannot service this request right now.</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/types">ErrorServerBusy</e:ResponseCode></detail></s:Fault></s:Body></s:Envelope>'
  assert.equal(soapFaultCode(busy), 'ErrorServerBusy')
  assert.equal(soapFaultCode('<html>Service Unavailable</html>'), undefined)
})
