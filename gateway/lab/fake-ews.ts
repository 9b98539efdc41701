import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { request } from 'undici'
import { xmlEscape } from '../../ens/ews-soap.js'

/** A push subscription the simulated Exchange accepted. */
export interface FakeSubscription {
  subscriptionId: string
  user: string
  /** The mailbox subscribed to (lower-case SMTP address), and whether the Subscribe named it. */
  mailbox: string
  mailboxNamed: boolean
  callbackUrl: string
  authorization: string
}

interface StoredMessage { subject: string, from: string, email: string, mailbox?: string }
const MAILBOX = new Map<string, StoredMessage>()
const ERRORS = 'http://schemas.microsoft.com/exchange/services/2006/errors'
const M = 'http://schemas.microsoft.com/exchange/services/2006/messages'
const T = 'http://schemas.microsoft.com/exchange/services/2006/types'

/**
 * The EWS side of the simulated Exchange: Subscribe (push) and GetItem as Exchange 2016 answers them,
 * and Exchange's own role in push: `deliverMail()` POSTs SendNotification to every callback URL.
 */
export class FakeEws {
  readonly subscriptions: FakeSubscription[] = []
  readonly getItems: Array<{ user: string, itemId: string, userAgent: string | undefined }> = []
  /** user → password; absent means any credentials are accepted. */
  users: Record<string, string> | undefined
  /**
   * Logon name → its own mailbox, for logons that are not an address (`CORP\alice`); a logon that is
   * an address owns that mailbox. Like Exchange, an operation on any other mailbox is ErrorAccessDenied.
   */
  mailboxes: Record<string, string> = {}
  /** Mailbox → logons with FullAccess to it (delegates), which Exchange lets open it. */
  delegates: Record<string, string[]> = {}
  /** The mailbox database, shared by every simulated server (as a DAG backs every Exchange server). */
  readonly messages = MAILBOX
  /** Gzip every answer, asked or not (a front end with static compression forced on). */
  compressAlways = false
  /** A broken or hostile front end: every answer is this many bytes once gunzipped (0: off). */
  gzipBombBytes = 0
  /**
   * EWS throttling this user: GetItem answers HTTP 500 with a SOAP fault ErrorServerBusy and a
   * BackOffMilliseconds hint, as Exchange does (the server is healthy; it is a per-user answer).
   */
  serverBusy = false
  /** Items moved or deleted before anyone fetched them: GetItem answers ErrorItemNotFound. */
  readonly deleted = new Set<string>()

  handle (req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const xml = body.toString('utf8')
    const auth = req.headers.authorization ?? ''
    const [user = '', password = ''] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8').split(/:(.*)/s)
    if (this.users && this.users[user] !== password) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="exchange"', 'content-length': 0 })
      res.end()
      return
    }
    const operation = /<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)/.exec(xml)?.[1]
    if (this.gzipBombBytes > 0 && operation === 'GetItem') {
      const bomb = gzipSync(Buffer.alloc(this.gzipBombBytes, ' '))
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-encoding': 'gzip', 'content-length': bomb.length })
      res.end(bomb)
      return
    }
    if (operation === 'Subscribe') {
      const url = /<(?:\w+:)?URL>([^<]+)<\/(?:\w+:)?URL>/.exec(xml)?.[1] ?? ''
      const named = /<(?:\w+:)?DistinguishedFolderId[^>]*>\s*<(?:\w+:)?Mailbox>\s*<(?:\w+:)?EmailAddress>([^<]*)</.exec(xml)?.[1]
      const mailbox = (named ?? this.mailboxOf(user)).toLowerCase()
      if (!this.mayOpen(user, mailbox)) {
        return this.#soap(res, `<m:SubscribeResponse xmlns:m="${M}" xmlns:t="${T}"><m:ResponseMessages><m:SubscribeResponseMessage ResponseClass="Error"><m:MessageText>Access is denied. Check credentials and try again.</m:MessageText><m:ResponseCode>ErrorAccessDenied</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:SubscribeResponseMessage></m:ResponseMessages></m:SubscribeResponse>`)
      }
      const subscriptionId = randomBytes(24).toString('base64')
      this.subscriptions.push({ subscriptionId, user, mailbox, mailboxNamed: named !== undefined, callbackUrl: url.replace(/&amp;/g, '&'), authorization: auth })
      return this.#soap(res, `<m:SubscribeResponse xmlns:m="${M}" xmlns:t="${T}"><m:ResponseMessages><m:SubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SubscriptionId>${subscriptionId}</m:SubscriptionId><m:Watermark>AQAAAA==</m:Watermark></m:SubscribeResponseMessage></m:ResponseMessages></m:SubscribeResponse>`)
    }
    if (operation === 'GetItem' && this.serverBusy) {
      const fault = '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>' +
        '<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode><faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>' +
        `<detail><e:ResponseCode xmlns:e="${ERRORS}">ErrorServerBusy</e:ResponseCode><e:Message xmlns:e="${ERRORS}">The server cannot service this request right now. Try again later.</e:Message>` +
        `<t:MessageXml xmlns:t="${T}"><t:Value Name="BackOffMilliseconds">2000</t:Value></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>`
      res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(fault), server: 'Microsoft-IIS/10.0' })
      res.end(fault)
      return
    }
    if (operation === 'GetItem') {
      const itemId = /<(?:\w+:)?ItemId Id="([^"]+)"/.exec(xml)?.[1] ?? ''
      this.getItems.push({ user, itemId, userAgent: req.headers['user-agent'] })
      const stored = this.messages.get(itemId)
      if (this.deleted.has(itemId) || (stored?.mailbox !== undefined && !this.mayOpen(user, stored.mailbox))) {
        return this.#soap(res, `<m:GetItemResponse xmlns:m="${M}" xmlns:t="${T}"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Error"><m:MessageText>The specified object was not found in the store.</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>`)
      }
      const message = this.messages.get(itemId) ?? { subject: 'Hello', from: 'Dana Example', email: 'dana@example.com' }
      return this.#soap(res, `<m:GetItemResponse xmlns:m="${M}" xmlns:t="${T}"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message><t:ItemId Id="${itemId}" ChangeKey="CQAAAA=="/><t:Subject>${xmlEscape(message.subject)}</t:Subject><t:From><t:Mailbox><t:Name>${xmlEscape(message.from)}</t:Name><t:EmailAddress>${message.email}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:From></t:Message></m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>`)
    }
    this.#soap(res, `<m:${operation}Response xmlns:m="${M}"><m:ResponseMessages><m:${operation}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:${operation}ResponseMessage></m:ResponseMessages></m:${operation}Response>`)
  }

  mailboxOf (logon: string): string {
    return (this.mailboxes[logon] ?? logon).toLowerCase()
  }

  /** Whether `logon` may open `mailbox`: its own, or one it has FullAccess to. */
  mayOpen (logon: string, mailbox: string): boolean {
    const wanted = mailbox.toLowerCase()
    return this.mailboxOf(logon) === wanted || (this.delegates[wanted] ?? []).includes(logon)
  }

  #soap (res: ServerResponse, body: string): void {
    soap(res, body, this.compressAlways)
  }

  /** Exchange's callback for a new mail (Created + NewMail for one item, as Exchange sends them). */
  async deliverMail (subscription: FakeSubscription, message = { subject: 'Hello', from: 'Dana Example', email: 'dana@example.com' }, callbackUrl = subscription.callbackUrl, itemId = 'AAMkAD' + randomBytes(30).toString('base64')): Promise<{ status: number, body: string, itemId: string, notification: string }> {
    this.messages.set(itemId, { ...message, mailbox: subscription.mailbox })
    const events = ['CreatedEvent', 'NewMailEvent'].map(type => `<t:${type}><t:Watermark>AQAAAB==</t:Watermark><t:TimeStamp>2026-11-28T09:00:00Z</t:TimeStamp><t:ItemId Id="${itemId}" ChangeKey="CQAAAA=="/><t:ParentFolderId Id="AQMkAD" ChangeKey="AQAAAA=="/></t:${type}>`).join('')
    const notification = `<t:SubscriptionId>${subscription.subscriptionId}</t:SubscriptionId><t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>${events}`
    const result = await this.notify(subscription, notification, callbackUrl)
    return { ...result, itemId, notification }
  }

  /** The heartbeat Exchange sends every StatusFrequency minutes when nothing happens. */
  heartbeat (subscription: FakeSubscription): Promise<{ status: number, body: string }> {
    return this.notify(subscription, `<t:SubscriptionId>${subscription.subscriptionId}</t:SubscriptionId><t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents><t:StatusEvent><t:Watermark>AQAAAC==</t:Watermark></t:StatusEvent>`)
  }

  /** Re-sends a notification body as it was (Exchange retries deliveries it thinks failed). */
  async notify (subscription: FakeSubscription, notification: string, callbackUrl = subscription.callbackUrl): Promise<{ status: number, body: string }> {
    const xml = `<?xml version="1.0" encoding="utf-8"?><soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Header><t:RequestServerVersion xmlns:t="${T}" Version="Exchange2013"/></soap11:Header><soap11:Body><m:SendNotification xmlns:m="${M}" xmlns:t="${T}"><m:ResponseMessages><m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notification>${notification}</m:Notification></m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification></soap11:Body></soap11:Envelope>`
    const res = await request(callbackUrl, { method: 'POST', body: xml, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `${M}/SendNotification` } })
    return { status: res.statusCode, body: await res.body.text() }
  }
}

function soap (res: ServerResponse, body: string, gzip: boolean): void {
  const xml = `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:ServerVersionInfo xmlns:h="${T}" MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/></s:Header><s:Body>${body}</s:Body></s:Envelope>`
  const payload = gzip ? gzipSync(xml) : Buffer.from(xml)
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': payload.length, ...(gzip ? { 'content-encoding': 'gzip' } : {}) })
  res.end(payload)
}
