import { find, parseXml, textOf, type XmlElement } from '../gateway/protocols/xml.js'

export const EWS_MESSAGES = 'http://schemas.microsoft.com/exchange/services/2006/messages'
export const EWS_TYPES = 'http://schemas.microsoft.com/exchange/services/2006/types'
const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/'

/**
 * GetItem for the notification text: IdOnly + item:Subject + message:From, byte for byte the request
 * ews-javascript-api 0.15 sends for EmailMessage.Bind (captured from it; test/ens/ews-soap.test.ts checks the shape).
 */
export function getItemRequest (itemId: string): string {
  return '<?xml version="1.0" encoding="utf-8"?>' +
    `<soap:Envelope xmlns:soap="${SOAP}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:m="${EWS_MESSAGES}" xmlns:t="${EWS_TYPES}">` +
    '<soap:Header><t:RequestServerVersion Version="Exchange2013"></t:RequestServerVersion></soap:Header>' +
    '<soap:Body><m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>' +
    '<t:FieldURI FieldURI="item:Subject"></t:FieldURI><t:FieldURI FieldURI="message:From"></t:FieldURI>' +
    `</t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="${xmlEscape(itemId)}"></t:ItemId></m:ItemIds></m:GetItem></soap:Body></soap:Envelope>`
}

export type GetItemResult =
  | { kind: 'item', subject: string, from: string }
  /** Exchange answered for the item but had none to give (ErrorItemNotFound when the mail was already moved, ...). */
  | { kind: 'item_error', code: string }

/** Reads a 200 GetItemResponse; throws XmlError when the body is not XML, Error when it is not a GetItemResponse. */
export function readGetItemResponse (xml: string): GetItemResult {
  const message = find(parseXml(xml), EWS_MESSAGES, 'GetItemResponseMessage')
  if (!message) throw new Error('not a GetItemResponse')
  if (message.attributes.ResponseClass !== 'Success') return { kind: 'item_error', code: textOf(message, EWS_MESSAGES, 'ResponseCode') ?? 'unknown' }
  // The item may be a Message, MeetingRequest, MeetingCancellation...: the first child of Items.
  const item: XmlElement | undefined = find(message, EWS_MESSAGES, 'Items')?.children[0]
  const mailbox = item && find(item, EWS_TYPES, 'From')
  return {
    kind: 'item',
    subject: (item && textOf(item, EWS_TYPES, 'Subject')) ?? '',
    from: (mailbox && (textOf(mailbox, EWS_TYPES, 'Name') || textOf(mailbox, EWS_TYPES, 'EmailAddress'))) || ''
  }
}

/** The ResponseCode of a SOAP fault (HTTP 500), e.g. ErrorServerBusy; undefined when the body is no fault. */
export function soapFaultCode (xml: string): string | undefined {
  try {
    const fault = find(parseXml(xml), SOAP, 'Fault')
    return fault && (textOf(fault, EWS_TYPES, 'ResponseCode') ?? textOf(fault, '', 'faultcode'))
  } catch {
    return undefined
  }
}

/** Text for an XML attribute or element value. */
export function xmlEscape (value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
