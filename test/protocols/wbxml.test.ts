import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { decodeWbxml, encodeWbxml, findText, WbxmlError } from '../../gateway/protocols/wbxml/codec.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-wbxml-'))

/** Debian's libwbxml (package libwbxml2-utils) decodes what we encode. */
function libwbxmlDecode (bytes: Buffer): string {
  const input = join(dir, `in-${Math.random()}.wbxml`)
  const output = input + '.xml'
  writeFileSync(input, bytes)
  execFileSync('wbxml2xml', ['-l', 'ACTIVESYNC', '-o', output, input], { stdio: 'ignore' })
  return readFileSync(output, 'utf8').replace(/\s+</g, '<')
}

/** ... and encodes what we decode. */
function libwbxmlEncode (xml: string, stringTable = false): Buffer {
  const input = join(dir, `in-${Math.random()}.xml`)
  const output = input + '.wbxml'
  writeFileSync(input, xml)
  execFileSync('xml2wbxml', ['-v', '1.3', ...(stringTable ? [] : ['-n']), '-o', output, input], { stdio: 'ignore' })
  return readFileSync(output)
}

test('the Ping "no changes" answer decodes in libwbxml', () => {
  const bytes = encodeWbxml({ name: 'Ping:Ping', children: [{ name: 'Ping:Status', text: '1' }] })
  assert.match(libwbxmlDecode(bytes), /<Ping xmlns="Ping:"><Status>1<\/Status><\/Ping>/)
})

test('a FolderSync response with nested elements decodes in libwbxml', () => {
  const bytes = encodeWbxml({ name: 'FolderHierarchy:FolderSync', children: [{ name: 'FolderHierarchy:Status', text: '1' }, { name: 'FolderHierarchy:SyncKey', text: '7' }] })
  assert.match(libwbxmlDecode(bytes), /<FolderSync xmlns="FolderHierarchy:"><Status>1<\/Status><SyncKey>7<\/SyncKey><\/FolderSync>/)
})

test('the reference Provision request (DeviceInformation across code pages) decodes', () => {
  // A real device's Provision request: 132 bytes, as libwbxml's wbxml2xml decodes them.
  const hex = '03016a00000e45001256485703534d2d4d3231354600015903534d2d4d3231354600015a03416e64726f696420313000016003416e64726f69642d4d61696c2f323032302e31312e32392e3334363138323130322e52656c6561736500010101000e464748034d532d4541532d50726f766973696f6e696e672d5742584d4c0001010101'
  const root = decodeWbxml(Buffer.from(hex, 'hex'))
  assert.equal(root.name, 'Provision:Provision')
  assert.equal(findText(root, 'Settings:Model'), 'SM-M215F')
  assert.equal(findText(root, 'Settings:OS'), 'Android 10')
  assert.equal(findText(root, 'Settings:UserAgent'), 'Android-Mail/2020.11.29.346182102.Release')
  assert.equal(findText(root, 'Provision:PolicyType'), 'MS-EAS-Provisioning-WBXML')
})

test('what libwbxml encodes, we decode (with and without a string table)', () => {
  for (const stringTable of [false, true]) {
    const bytes = libwbxmlEncode('<?xml version="1.0"?><!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/"><Ping xmlns="Ping:"><HeartbeatInterval>480</HeartbeatInterval><Folders><Folder><Id>1</Id><Class>Email</Class></Folder><Folder><Id>2</Id><Class>Email</Class></Folder></Folders></Ping>', stringTable)
    const root = decodeWbxml(bytes)
    assert.equal(findText(root, 'Ping:HeartbeatInterval'), '480')
    assert.equal(findText(root, 'Ping:Class'), 'Email')
  }
})

test('malformed WBXML fails with a WbxmlError, never a hang or a crash', () => {
  for (const hex of ['', '03', '03016a00', '03016a0000ff', '03016a00000d4547033100', '03016a0000404040', '03016a00450a']) {
    assert.throws(() => decodeWbxml(Buffer.from(hex, 'hex')), WbxmlError, hex)
  }
  const deep = Buffer.concat([Buffer.from('03016a00000d', 'hex'), Buffer.alloc(100, 0x45)])
  assert.throws(() => decodeWbxml(deep), /nested too deeply|truncated/)
})
