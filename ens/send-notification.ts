import { EWS_MESSAGES as M, EWS_TYPES as T } from './ews-soap.js'
import { find, findAll, parseXml, textOf, XmlError, type XmlElement } from '../gateway/protocols/xml.js'
import { GatewayError } from '../gateway/errors/catalogue.js'

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

export class NotificationParseError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) { super('GW_ENS_BAD_NOTIFICATION', message, options) }
}

/**
 * Parses Exchange's SendNotification (MS-OXWSPSNTIF) by namespace, not by prefix: Exchange versions
 * and captures use soap11/s/soap, m/t or default namespaces. Rejects anything that is not one.
 */
export function parseSendNotification (xml: string): SendNotification {
  let document: XmlElement
  try {
    document = parseXml(xml)
  } catch (err) {
    if (err instanceof XmlError) throw new NotificationParseError('not XML', { cause: err })
    throw err
  }
  const send = document.ns === M && document.name === 'SendNotification' ? document : find(document, M, 'SendNotification')
  if (!send) throw new NotificationParseError('not a SendNotification')
  const message = find(send, M, 'SendNotificationResponseMessage')
  if (!message) throw new NotificationParseError('no SendNotificationResponseMessage')
  const notification = find(message, M, 'Notification')
  const events: NotificationEvent[] = []
  let subscriptionId: string | undefined
  if (notification) {
    subscriptionId = textOf(notification, T, 'SubscriptionId')
    for (const el of notification.children) {
      if (el.ns !== T || !el.name.endsWith('Event')) continue
      events.push({ type: el.name, itemId: find(el, T, 'ItemId')?.attributes.Id, watermark: textOf(el, T, 'Watermark') })
    }
  } else {
    // ResponseClass="Error": the subscription id sits in MessageXml (ErrorReadEventsFailed).
    for (const value of findAll(message, T, 'Value')) {
      if (value.attributes.Name === 'SubscriptionId') subscriptionId = value.text
    }
  }
  return {
    responseClass: message.attributes.ResponseClass ?? '',
    responseCode: textOf(message, M, 'ResponseCode') ?? '',
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
