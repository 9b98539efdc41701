// The only file that imports ews-javascript-api (reference/ens-ews.md §2). Its quirks, handled here:
// values are not XML-escaped (the callback URL is escaped before it goes in), service.Timeout and
// service.UserAgent never reach the wire (a per-request XhrApi sets the timeout, HttpHeaders the UA),
// and it has no push listener (ens/send-notification.ts parses what Exchange sends).
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { XhrApi } from '@ewsjs/xhr'
import {
  BasePropertySet, EmailMessage, EmailMessageSchema, EventType, ExchangeService, ExchangeVersion, FolderId,
  ItemId, ItemSchema, PropertySet, Uri, WebCredentials, WellKnownFolderName
} from 'ews-javascript-api'
import type { Credentials } from './crypto.js'

/** The user agent Portcullis' ENS sends to EWS: allow it in an EWS allow list (README, "ENS"). */
export const ENS_USER_AGENT = 'Portcullis-ENS/1.0'

export interface EwsTarget {
  /** e.g. https://exch01.corp.example/EWS/Exchange.asmx */
  url: string
  timeoutMs: number
  rejectUnauthorized: boolean
}

export class EwsAuthError extends Error {
  readonly code = 'PORTCULLIS_ENS_EWS_UNAUTHORIZED'
}

/** A transport or server failure (worth trying another server, or answering Exchange "retry later"). */
export class EwsUnavailableError extends Error {
  readonly code = 'PORTCULLIS_ENS_EWS_UNAVAILABLE'
}

/**
 * Keep-alive connection pools under the per-call XhrApi objects. Without them every GetItem opened a new
 * TCP connection (XhrApi builds a fresh axios client), and Nagle plus delayed ACKs left the gateway idle
 * half the time (measured: 55 % idle at 220 notifications/s). Sharing TCP connections shares nothing of a
 * user's: Basic credentials travel with each request, and NTLM is not used here.
 */
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 256, noDelay: true })
const httpsAgents = new Map<boolean, HttpsAgent>()
function httpsAgent (rejectUnauthorized: boolean): HttpsAgent {
  let agent = httpsAgents.get(rejectUnauthorized)
  if (!agent) httpsAgents.set(rejectUnauthorized, agent = new HttpsAgent({ keepAlive: true, maxSockets: 256, noDelay: true, rejectUnauthorized }))
  return agent
}

/**
 * A new ExchangeService and XhrApi for every call: credentials live in them, and sharing a service
 * object between users is how one ENS once served one user's mail to another.
 */
function serviceFor (target: EwsTarget, credentials: Credentials): ExchangeService {
  const service = new ExchangeService(ExchangeVersion.Exchange2013)
  service.Url = new Uri(target.url)
  service.Credentials = new WebCredentials(credentials.user, credentials.password)
  service.XHRApi = new XhrApi({ timeout: target.timeoutMs, rejectUnauthorized: target.rejectUnauthorized, httpAgent, httpsAgent: httpsAgent(target.rejectUnauthorized) })
  service.HttpHeaders.Add('User-Agent', ENS_USER_AGENT)
  return service
}

/** Creates a push subscription on the user's Inbox; Exchange will POST SendNotification to `callbackUrl`. */
export async function subscribeInbox (target: EwsTarget, credentials: Credentials, callbackUrl: string, statusFrequencyMinutes: number): Promise<{ subscriptionId: string, watermark: string }> {
  const service = serviceFor(target, credentials)
  try {
    const subscription = await service.SubscribeToPushNotifications(
      [new FolderId(WellKnownFolderName.Inbox)], new Uri(xmlEscape(callbackUrl)), statusFrequencyMinutes, null as unknown as string,
      EventType.NewMail, EventType.Created)
    return { subscriptionId: subscription.Id, watermark: subscription.Watermark }
  } catch (err) {
    throw classify(err)
  }
}

/** Subject and sender of one message (GetItem, IdOnly + Subject + From). */
export async function fetchSubjectAndSender (target: EwsTarget, credentials: Credentials, itemId: string): Promise<{ subject: string, from: string }> {
  const service = serviceFor(target, credentials)
  try {
    const message = await EmailMessage.Bind(service, new ItemId(itemId), new PropertySet(BasePropertySet.IdOnly, [ItemSchema.Subject, EmailMessageSchema.From]))
    const from = message.From
    return { subject: message.Subject ?? '', from: from?.Name || from?.Address || '' }
  } catch (err) {
    throw classify(err)
  }
}

function classify (err: unknown): Error {
  const e = err as { message?: string, status?: number, Response?: { status?: number }, ErrorCode?: unknown, code?: string }
  const status = e.status ?? e.Response?.status
  const text = `${e.message ?? ''} ${String(e.code ?? '')}`
  if (status === 401 || /\b401\b|Unauthorized/i.test(text)) return new EwsAuthError('Exchange refused the credentials')
  if (status === undefined && e.ErrorCode !== undefined && !/ECONN|timeout|socket|503|50\d/i.test(text)) return err as Error
  return new EwsUnavailableError(`EWS unavailable: ${status ?? (e.code || e.message || 'error')}`)
}

/** ews-javascript-api writes values into the SOAP body as they are (issues #358, #368). */
function xmlEscape (value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
