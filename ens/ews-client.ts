// The only file that imports ews-javascript-api (reference/ens-ews.md §2). Its quirks, handled here:
// values are not XML-escaped (the callback URL is escaped before it goes in), service.Timeout and
// service.UserAgent never reach the wire (a per-request XhrApi sets the timeout, HttpHeaders the UA),
// and it has no push listener (ens/send-notification.ts parses what Exchange sends).
import type { Dispatcher } from 'undici'
import {
  EventType, ExchangeService, ExchangeVersion, FolderId, Mailbox, ServiceError, Uri, WebCredentials, WellKnownFolderName
} from 'ews-javascript-api'
import type { Credentials } from './crypto.js'
import { xmlEscape } from './ews-soap.js'
import { GatewayError } from '../gateway/errors/catalogue.js'
import { EWS_TRANSPORT_ERROR, UndiciXhrApi } from './ews-http.js'

/** The user agent Portcullis' ENS sends to EWS: allow it in an EWS allow list (README, "ENS"). */
export const ENS_USER_AGENT = 'Portcullis-ENS/1.0'

export interface EwsTarget {
  /** e.g. https://exch01.corp.example/EWS/Exchange.asmx */
  url: string
  timeoutMs: number
  /** The upstream server's undici pool: its TLS settings apply, its connections are reused. */
  dispatcher: Dispatcher
}

export class EwsAuthError extends GatewayError {
  constructor (message?: string, options?: { cause?: unknown }) { super('GW_ENS_EWS_UNAUTHORIZED', message, options) }
}

/**
 * Exchange refused the operation on the named mailbox (ErrorAccessDenied, ErrorNonExistentMailbox, ...):
 * the credentials are valid but do not open that mailbox.
 */
export class EwsMailboxError extends GatewayError {
  constructor (message?: string, options?: { cause?: unknown }) { super('GW_ENS_MAILBOX_REFUSED', message, options) }
}

/** A transport or server failure (worth trying another server, or answering Exchange "retry later"). */
export class EwsUnavailableError extends GatewayError {
  constructor (message?: string, options?: { cause?: unknown }) { super('GW_ENS_EWS_UNAVAILABLE', message, options) }
}

/**
 * A new ExchangeService and XhrApi for every call: credentials live in them, and sharing a service
 * object between users is how one ENS once served one user's mail to another.
 */
function serviceFor (target: EwsTarget, credentials: Credentials): ExchangeService {
  const service = new ExchangeService(ExchangeVersion.Exchange2013)
  service.Url = new Uri(target.url)
  service.Credentials = new WebCredentials(credentials.user, credentials.password)
  service.XHRApi = new UndiciXhrApi(target.dispatcher, target.timeoutMs) as unknown as ExchangeService['XHRApi']
  service.AcceptGzipEncoding = false // responses are about 1 KB: compressing costs both sides more CPU than it saves
  service.HttpHeaders.Add('User-Agent', ENS_USER_AGENT)
  return service
}

/**
 * Creates a push subscription on the Inbox of `mailbox`, named explicitly (a DistinguishedFolderId with
 * its Mailbox), so that Exchange itself refuses credentials that cannot open that mailbox
 * (ErrorAccessDenied): the subscription is bound to the mailbox the credentials proved. Exchange will
 * POST SendNotification to `callbackUrl`. `mailbox` must already be validated (it goes in unescaped).
 */
export async function subscribeInbox (target: EwsTarget, credentials: Credentials, mailbox: string, callbackUrl: string, statusFrequencyMinutes: number): Promise<{ subscriptionId: string, watermark: string }> {
  const service = serviceFor(target, credentials)
  try {
    const subscription = await service.SubscribeToPushNotifications(
      [new FolderId(WellKnownFolderName.Inbox, new Mailbox(mailbox))], new Uri(xmlEscape(callbackUrl)) /* ews-javascript-api writes values unescaped (issues #358, #368) */, statusFrequencyMinutes, null as unknown as string,
      EventType.NewMail, EventType.Created)
    return { subscriptionId: subscription.Id, watermark: subscription.Watermark }
  } catch (err) {
    throw classify(err)
  }
}

function classify (err: unknown): Error {
  // ews-javascript-api turns a rejected XHR into SoapFaultDetails (HttpStatusCode, message) and an EWS
  // error inside a 200 answer into a ServiceResponseException (ErrorCode, no status).
  const e = err as { message?: string, status?: number, HttpStatusCode?: number, Response?: { status?: number }, ErrorCode?: unknown, code?: string }
  const status = e.status ?? e.HttpStatusCode ?? e.Response?.status
  const text = `${e.message ?? ''} ${String(e.code ?? '')}`
  if (status === 401 || /\b401\b|Unauthorized/i.test(text)) return new EwsAuthError('Exchange refused the credentials')
  const transport = text.includes(EWS_TRANSPORT_ERROR) || /ECONN|timeout|socket/i.test(text)
  if (status === undefined && !transport && typeof e.ErrorCode === 'number' && MAILBOX_REFUSALS.has(e.ErrorCode)) return new EwsMailboxError('Exchange refused the mailbox for these credentials')
  if (status === undefined && !transport && e.ErrorCode !== undefined) return err as Error
  return new EwsUnavailableError(`EWS unavailable: ${status ?? (e.code || e.message || 'error')}`)
}

/** EWS errors that mean "these credentials cannot open that mailbox". */
const MAILBOX_REFUSALS: ReadonlySet<number> = new Set([ServiceError.ErrorAccessDenied, ServiceError.ErrorNonExistentMailbox, ServiceError.ErrorFolderNotFound, ServiceError.ErrorInvalidSmtpAddress])
