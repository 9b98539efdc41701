import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ActiveSyncQueryError, parseActiveSyncRequest } from '../../gateway/protocols/activesync-request.js'
import { parseAuthorization } from '../../gateway/protocols/authorization.js'

test('the MS-ASHTTP base64 example decodes to the same identity as its plain form', () => {
  // MS-ASHTTP 2.2.1.1.1.1 example: v14.0, Sync, locale 0x0409, DeviceId v140Device, DeviceType SmartPhone.
  const binary = parseActiveSyncRequest('jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l', {})
  const plain = parseActiveSyncRequest('Cmd=Sync&User=rmjones&DeviceId=v140Device&DeviceType=SmartPhone', { 'ms-asprotocolversion': '14.0' })
  assert.deepEqual({ ...binary, user: 'rmjones' }, plain)
  assert.equal(binary.version, '14.0')
})

test('a real capture: Nine on Android, v14.1 with a policy key', () => {
  const r = parseActiveSyncRequest('jQAJBBBOaW5lNDM4M0FGMzQ2ODYwBAAAAAAHQW5kcm9pZAcBAA==', {})
  assert.deepEqual(r, { command: 'Sync', user: undefined, deviceId: 'Nine4383AF346860', deviceType: 'Android', version: '14.1', policyKey: '0' })
})

test('a binary DeviceId (16-byte GUID) becomes lower-case hex; the User parameter is read', () => {
  const guid = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  const user = Buffer.from('alice')
  const bytes = Buffer.concat([Buffer.from([0xa1, 18, 0x09, 0x04, 16]), guid, Buffer.from([0, 6]), Buffer.from('iPhone'), Buffer.from([8, user.length]), user])
  const r = parseActiveSyncRequest(encodeURIComponent(bytes.toString('base64')), {})
  assert.equal(r.deviceId, '00112233445566778899aabbccddeeff')
  assert.equal(r.command, 'Ping')
  assert.equal(r.version, '16.1')
  assert.equal(r.user, 'alice')
})

test('parameter names are case-insensitive; a parameter repeated with another value is refused', () => {
  const r = parseActiveSyncRequest('cmd=Ping&USER=a&deviceid=D1&DEVICETYPE=iPhone&DeviceId=d1', {})
  assert.equal(r.command, 'Ping')
  assert.equal(r.deviceId, 'd1')
  assert.throws(() => parseActiveSyncRequest('Cmd=Sync&DeviceType=iPhone&devicetype=Outlook', {}), ActiveSyncQueryError)
  assert.throws(() => parseActiveSyncRequest('Cmd=Sync&Cmd=Ping', {}), ActiveSyncQueryError)
})

test('malformed base64 queries are refused, never guessed', () => {
  for (const bad of ['jAAJ', '!!!!', 'jAAJBAp2MTQw', 'jAAJBAp2MTQwRGV2aWNlBQAAAAAA', '%E0%A4%A']) {
    assert.throws(() => parseActiveSyncRequest(bad, {}), ActiveSyncQueryError, bad)
  }
  assert.throws(() => parseActiveSyncRequest('jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l', { 'ms-asprotocolversion': '16.1' }), /disagrees/)
})

test('Authorization gives the scheme and the user, never the password', () => {
  const basic = (s: string): string => 'Basic ' + Buffer.from(s).toString('base64')
  assert.deepEqual(parseAuthorization(basic('CORP\\alice:pa:ss')), { scheme: 'basic', user: 'CORP\\alice' })
  assert.deepEqual(parseAuthorization(basic('alice@example.com:x')), { scheme: 'basic', user: 'alice@example.com' })
  assert.deepEqual(parseAuthorization('Bearer eyJ0eXAi'), { scheme: 'bearer', user: undefined })
  assert.deepEqual(parseAuthorization('NTLM TlRMTVNTUAAB'), { scheme: 'ntlm', user: undefined, ntlmMessage: undefined })
  assert.deepEqual(parseAuthorization(undefined), { scheme: 'none', user: undefined })
})
