import { CODE_PAGES, TOKENS } from './codepages.js'
import { GatewayError } from '../../errors/catalogue.js'

/** An element as the codec sees it: `name` is "Page:Tag" (e.g. "Ping:Status"). */
export interface WbxmlElement {
  name: string
  children?: WbxmlElement[]
  text?: string
  opaque?: Buffer
}

const SWITCH_PAGE = 0x00
const END = 0x01
const STR_I = 0x03
const STR_T = 0x83
const OPAQUE = 0xc3
const WITH_CONTENT = 0x40

export class WbxmlError extends GatewayError {
  constructor (message: string) { super('GW_PROTOCOL_WBXML', message) }
}

/** Encodes one document: WBXML 1.3, public id 1 (unknown), UTF-8, no string table. */
export function encodeWbxml (root: WbxmlElement): Buffer {
  const out: number[] = [0x03, 0x01, 0x6a, 0x00]
  const state = { page: -1 }
  writeElement(root, out, state)
  return Buffer.from(out)
}

function writeElement (el: WbxmlElement, out: number[], state: { page: number }): void {
  const token = TOKENS.get(el.name)
  if (!token) throw new WbxmlError(`no WBXML token for ${el.name}`)
  const [page, tag] = token
  if (page !== state.page) {
    out.push(SWITCH_PAGE, page)
    state.page = page
  }
  const hasContent = (el.children?.length ?? 0) > 0 || el.text !== undefined || el.opaque !== undefined
  out.push(hasContent ? tag | WITH_CONTENT : tag)
  if (!hasContent) return
  if (el.text !== undefined) out.push(STR_I, ...Buffer.from(el.text, 'utf8'), 0)
  if (el.opaque !== undefined) out.push(OPAQUE, ...mbUint32(el.opaque.length), ...el.opaque)
  for (const child of el.children ?? []) writeElement(child, out, state)
  out.push(END)
}

function mbUint32 (n: number): number[] {
  const bytes = [n & 0x7f]
  n >>>= 7
  while (n > 0) {
    bytes.unshift((n & 0x7f) | 0x80)
    n >>>= 7
  }
  return bytes
}

/** How much a decoded document may hold: a string-table entry can be referenced any number of times. */
export interface WbxmlLimits {
  maxDepth: number
  /** Bytes of text (or opaque data) in one element. */
  maxElementBytes: number
  /** Bytes of text and opaque data in the whole document. */
  maxDocumentBytes: number
}

/**
 * Enough for any Settings or Provision request: DeviceInformation fields are tens of bytes, an
 * out-of-office message (Settings Oof) a few KB. 64 KB of input can hold 512 M characters otherwise.
 */
export const WBXML_LIMITS: WbxmlLimits = { maxDepth: 32, maxElementBytes: 65_536, maxDocumentBytes: 524_288 }

/**
 * Decodes an ActiveSync WBXML document. Bounded: nesting depth, the decoded size of every element and
 * of the whole document (64 KB with 16,000 string-table references once decoded to 512 M characters)
 * are checked before anything is copied, and any malformed input, data after the root element
 * included, throws WbxmlError (the caller answers 400) instead of looping or guessing.
 */
export function decodeWbxml (buf: Buffer, limits: WbxmlLimits = WBXML_LIMITS): WbxmlElement {
  const { maxDepth } = limits
  let decoded = 0
  /** Counts `bytes` more of content for `el`, refusing past either limit. */
  const account = (el: WbxmlElement, bytes: number): void => {
    decoded += bytes
    const own = (el.text === undefined ? 0 : Buffer.byteLength(el.text)) + (el.opaque?.length ?? 0) + bytes
    if (own > limits.maxElementBytes || decoded > limits.maxDocumentBytes) throw new WbxmlError('WBXML content larger than allowed')
  }
  let pos = 0
  const byte = (): number => {
    if (pos >= buf.length) throw new WbxmlError('truncated WBXML')
    return buf[pos++] as number
  }
  const mb = (): number => {
    let n = 0
    for (let i = 0; i < 5; i++) {
      const b = byte()
      n = n * 128 + (b & 0x7f)
      if ((b & 0x80) === 0) return n
    }
    throw new WbxmlError('mb_u_int32 too long')
  }
  byte() // version
  if (mb() === 0) mb() // public id 0: the id is a string-table index (libwbxml writes the DTD name)
  const charset = mb()
  if (charset !== 0x6a && charset !== 0 && charset !== 3) throw new WbxmlError(`unsupported charset ${charset}`) // UTF-8, unknown, US-ASCII
  const strtblLength = mb()
  if (pos + strtblLength > buf.length) throw new WbxmlError('string table past the end')
  const strtbl = buf.subarray(pos, pos + strtblLength)
  pos += strtblLength
  let page = 0
  const readElement = (depth: number): WbxmlElement => {
    if (depth > maxDepth) throw new WbxmlError('WBXML nested too deeply')
    let t = byte()
    while (t === SWITCH_PAGE) {
      page = byte()
      t = byte()
    }
    if (t & 0x80) throw new WbxmlError('attributes are not used by ActiveSync')
    const codePage = CODE_PAGES[page]
    const tag = codePage?.tags[t & 0x3f]
    if (!codePage || !tag) throw new WbxmlError(`unknown tag 0x${(t & 0x3f).toString(16)} on code page ${page}`)
    const el: WbxmlElement = { name: `${codePage.name}:${tag}` }
    if (!(t & WITH_CONTENT)) return el
    while (true) {
      const next = buf[pos]
      if (next === undefined) throw new WbxmlError('truncated WBXML')
      if (next === END) {
        pos++
        return el
      }
      if (next === STR_I) {
        pos++
        const end = buf.indexOf(0, pos)
        if (end === -1) throw new WbxmlError('unterminated string')
        account(el, end - pos)
        el.text = (el.text ?? '') + buf.toString('utf8', pos, end)
        pos = end + 1
      } else if (next === STR_T) {
        pos++
        const offset = mb()
        const end = strtbl.indexOf(0, offset)
        if (offset >= strtbl.length || end === -1) throw new WbxmlError('bad string table reference')
        account(el, end - offset)
        el.text = (el.text ?? '') + strtbl.toString('utf8', offset, end)
      } else if (next === OPAQUE) {
        pos++
        const len = mb()
        if (pos + len > buf.length) throw new WbxmlError('opaque data past the end')
        if (el.opaque !== undefined) throw new WbxmlError('two opaque values in one element')
        account(el, len)
        el.opaque = buf.subarray(pos, pos + len)
        pos += len
      } else {
        (el.children ??= []).push(readElement(depth + 1))
      }
    }
  }
  const root = readElement(0)
  if (pos !== buf.length) throw new WbxmlError('data after the root element')
  return root
}

/** The text of the first descendant named `name`, depth-first. */
export function findText (el: WbxmlElement, name: string): string | undefined {
  if (el.name === name) return el.text
  for (const child of el.children ?? []) {
    const found = findText(child, name)
    if (found !== undefined) return found
  }
  return undefined
}
