import { DOMParser } from '@xmldom/xmldom'

const M = 'http://schemas.microsoft.com/exchange/services/2006/messages'
const T = 'http://schemas.microsoft.com/exchange/services/2006/types'

export interface NotificationEvent {
  type: string
  itemId?: string | undefined
  watermark?: string | undefined
}

export interface SendNotification {
  responseClass: string
  responseCode: string
  subscriptionId: string | undefined
  events: NotificationEvent[]
}

export class NotificationParseError extends Error {
  readonly code = 'PORTCULLIS_ENS_BAD_NOTIFICATION'
}

/**
 * Parses Exchange's SendNotification (MS-OXWSPSNTIF) by namespace, not by prefix: Exchange versions
 * and captures use soap11/s/soap, m/t or default namespaces. Rejects anything that is not one.
 */
export function parseSendNotification (xml: string): SendNotification {
  const errors: string[] = []
  const doc = new DOMParser({ errorHandler: { warning: () => {}, error: (msg: string) => errors.push(msg), fatalError: (msg: string) => errors.push(msg) } }).parseFromString(xml, 'text/xml')
  if (errors.length > 0 || !doc.documentElement) throw new NotificationParseError('not XML')
  const send = doc.getElementsByTagNameNS(M, 'SendNotification')[0]
  if (!send) throw new NotificationParseError('not a SendNotification')
  const message = send.getElementsByTagNameNS(M, 'SendNotificationResponseMessage')[0]
  if (!message) throw new NotificationParseError('no SendNotificationResponseMessage')
  const text = (parent: Element, ns: string, name: string): string | undefined => parent.getElementsByTagNameNS(ns, name)[0]?.textContent?.trim() ?? undefined
  const notification = message.getElementsByTagNameNS(M, 'Notification')[0]
  const events: NotificationEvent[] = []
  let subscriptionId: string | undefined
  if (notification) {
    subscriptionId = text(notification, T, 'SubscriptionId')
    for (let node = notification.firstChild; node; node = node.nextSibling) {
      if (node.nodeType !== 1) continue
      const el = node as Element
      if (el.namespaceURI !== T || !el.localName.endsWith('Event')) continue
      events.push({ type: el.localName, itemId: el.getElementsByTagNameNS(T, 'ItemId')[0]?.getAttribute('Id') ?? undefined, watermark: text(el, T, 'Watermark') })
    }
  } else {
    // ResponseClass="Error": the subscription id sits in MessageXml (ErrorReadEventsFailed).
    for (const value of Array.from(message.getElementsByTagNameNS(T, 'Value'))) {
      if (value.getAttribute('Name') === 'SubscriptionId') subscriptionId = value.textContent ?? undefined
    }
  }
  return {
    responseClass: message.getAttribute('ResponseClass') ?? '',
    responseCode: text(message, M, 'ResponseCode') ?? '',
    subscriptionId,
    events
  }
}

/** The listener's answer: keep the subscription (OK) or end it (Unsubscribe), the only way to end a push subscription. */
export function sendNotificationResult (status: 'OK' | 'Unsubscribe'): string {
  return '<?xml version="1.0" encoding="utf-8"?>' +
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">' +
    `<soap:Body><SendNotificationResult xmlns="${M}"><SubscriptionStatus>${status}</SubscriptionStatus></SendNotificationResult></soap:Body>` +
    '</soap:Envelope>'
}
