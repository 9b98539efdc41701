import { SaxesParser } from 'saxes'
import { GatewayError } from '../errors/catalogue.js'

/** An element of a parsed SOAP message: namespace URI and local name, never the prefix. */
export interface XmlElement {
  ns: string
  name: string
  attributes: Record<string, string>
  children: XmlElement[]
  text: string
}

export class XmlError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) { super('GW_PROTOCOL_XML', message, options) }
}

/** What any SOAP message this gateway reads needs, with room to spare; deeper or larger is refused. */
export interface XmlLimits { maxDepth: number, maxElements: number }
export const SOAP_LIMITS: XmlLimits = { maxDepth: 32, maxElements: 20_000 }

/** Thrown from inside the parser's handlers to stop it at once (saxes lets handler errors through). */
class StopParsing extends Error {}

/**
 * Parses XML into a small namespace-resolved tree. Exchange's SOAP uses soap11/s/soap, m/t or default
 * namespaces depending on version and capture, so everything downstream matches by namespace URI.
 * saxes, not a DOM: about four times faster than @xmldom/xmldom on a SendNotification (0.03 against
 * 0.11 ms here), which matters at a thousand notifications a second. A DOCTYPE is refused outright,
 * so no entity of any kind (internal or external) is ever expanded.
 */
export function parseXml (xml: string, limits: XmlLimits = SOAP_LIMITS): XmlElement {
  const parser = new SaxesParser({ xmlns: true })
  const root: XmlElement = { ns: '', name: '', attributes: {}, children: [], text: '' }
  const stack: XmlElement[] = [root]
  let failure: string | undefined
  // The first error ends the parse: saxes would go on, and a document of unmatched tags then cost
  // time growing with the square of its size (found by the fuzzer: 120 ms for 23 KB).
  parser.on('error', err => { failure ??= err.message; throw new StopParsing() })
  parser.on('doctype', () => { failure ??= 'DOCTYPE is not allowed'; throw new StopParsing() })
  let elements = 0
  // Checked before the tag's attributes and namespaces are resolved (that work grows with the depth).
  parser.on('opentagstart', () => {
    if (stack.length > limits.maxDepth || ++elements > limits.maxElements) {
      failure ??= 'XML nested too deeply or too many elements'
      throw new StopParsing()
    }
  })
  parser.on('opentag', tag => {
    const attributes: Record<string, string> = {}
    for (const attribute of Object.values(tag.attributes)) if (attribute.prefix !== 'xmlns' && attribute.name !== 'xmlns') attributes[attribute.local] = attribute.value
    const element: XmlElement = { ns: tag.uri, name: tag.local, attributes, children: [], text: '' }
    stack[stack.length - 1]!.children.push(element)
    stack.push(element)
  })
  parser.on('closetag', () => { stack.pop() })
  parser.on('text', text => { stack[stack.length - 1]!.text += text })
  parser.on('cdata', text => { stack[stack.length - 1]!.text += text })
  try {
    parser.write(xml).close()
  } catch (err) {
    failure ??= (err as Error).message
  }
  const document = root.children[0]
  if (failure !== undefined || !document) throw new XmlError('not well-formed XML')
  return document
}

/** The first element named (ns, name) at any depth below `parent`, in document order. */
export function find (parent: XmlElement, ns: string, name: string): XmlElement | undefined {
  for (const child of parent.children) {
    if (child.ns === ns && child.name === name) return child
    const deeper = find(child, ns, name)
    if (deeper) return deeper
  }
  return undefined
}

/** Every element named (ns, name) at any depth below `parent`, in document order. */
export function findAll (parent: XmlElement, ns: string, name: string, found: XmlElement[] = []): XmlElement[] {
  for (const child of parent.children) {
    if (child.ns === ns && child.name === name) found.push(child)
    findAll(child, ns, name, found)
  }
  return found
}

/** Trimmed text of the first (ns, name) element below `parent`. */
export function textOf (parent: XmlElement, ns: string, name: string): string | undefined {
  return find(parent, ns, name)?.text.trim()
}

const SOAP_ENVELOPES = new Set(['http://schemas.xmlsoap.org/soap/envelope/', 'http://www.w3.org/2003/05/soap-envelope'])

/**
 * The operation of a SOAP request: the local name of the one element inside the Envelope's own Body
 * (SOAP 1.1 or 1.2 namespace), from a namespace-aware, bounded parse that stops at the end of the Body.
 * A `Body` elsewhere (inside the Header, a decoy) or a comment changes nothing. Throws XmlError when
 * the document is not a SOAP envelope with exactly one operation.
 */
export function soapOperation (xml: string, limits: XmlLimits = SOAP_LIMITS): string {
  const parser = new SaxesParser({ xmlns: true })
  let depth = 0
  let elements = 0
  let inBody = false
  let envelopeNs: string | undefined
  let operation: string | undefined
  let failure: string | undefined
  parser.on('error', err => { failure ??= err.message; throw new StopParsing() })
  parser.on('doctype', () => { failure ??= 'DOCTYPE is not allowed'; throw new StopParsing() })
  parser.on('opentagstart', () => {
    if (depth >= limits.maxDepth || ++elements > limits.maxElements) {
      failure ??= 'XML nested too deeply or too many elements'
      throw new StopParsing()
    }
  })
  parser.on('opentag', tag => {
    depth++
    if (depth === 1) {
      if (tag.local !== 'Envelope' || !SOAP_ENVELOPES.has(tag.uri)) { failure = 'not a SOAP envelope'; throw new StopParsing() }
      envelopeNs = tag.uri
    } else if (depth === 2) {
      inBody = tag.local === 'Body' && tag.uri === envelopeNs
    } else if (depth === 3 && inBody) {
      // Two operations in one Body: which one would Exchange run? Refused rather than guessed.
      if (operation !== undefined) { failure = 'more than one element in the SOAP Body'; throw new StopParsing() }
      operation = tag.local
    }
  })
  parser.on('closetag', () => {
    depth--
    if (depth === 1 && inBody && operation !== undefined) throw new StopParsing() // the Body is read: done
    if (depth === 1) inBody = false
  })
  try {
    parser.write(xml).close()
  } catch (err) {
    if (!(err instanceof StopParsing)) failure ??= (err as Error).message
  }
  if (operation !== undefined && failure === undefined) return operation
  throw new XmlError(failure ?? 'no operation in the SOAP Body')
}
