// The only file that imports ews-javascript-api (README, "ENS"). Its quirks, handled here:
// values are not XML-escaped (the callback URL is escaped before it goes in), service.Timeout and
// service.UserAgent never reach the wire (a per-request XhrApi sets the timeout, HttpHeaders the UA),
// and it has no push listener (ens/send-notification.ts parses what Exchange sends).
import {
  EventType, ExchangeService, ExchangeVersion, FolderId, Mailbox, ServiceError, Uri, WebCredentials, WellKnownFolderName
} from 'ews-javascript-api'
import type { Credentials } from './crypto.js'
import { xmlEscape } from './ews-soap.js'
import { GatewayError } from '../gateway/errors/catalogue.js'
import { GatewayXhrApi, type EwsTarget } from './ews-http.js'

/** The user agent Portcullis' ENS sends to EWS: allow it in an EWS allow list (README, "ENS"). */
export const ENS_USER_AGENT = 'Portcullis-ENS/1.0'

/** The URL ews-javascript-api is given; the host is never used (EwsTarget decides where calls go). */
const EWS_URL = 'https://exchange.invalid/EWS/Exchange.asmx'

export type { EwsTarget }

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
function serviceFor (xhr: GatewayXhrApi, credentials: Credentials): ExchangeService {
  const service = new ExchangeService(ExchangeVersion.Exchange2013)
  service.Url = new Uri(EWS_URL) // only its path matters: the XHR layer sends to the Exchange pool
  service.Credentials = new WebCredentials(credentials.user, credentials.password)
  service.XHRApi = xhr as unknown as ExchangeService['XHRApi']
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
  const xhr = new GatewayXhrApi(target)
  const service = serviceFor(xhr, credentials)
  try {
    const subscription = await service.SubscribeToPushNotifications(
      [new FolderId(WellKnownFolderName.Inbox, new Mailbox(mailbox))], new Uri(xmlEscape(callbackUrl)) /* ews-javascript-api writes values unescaped (issues #358, #368) */, statusFrequencyMinutes, null as unknown as string,
      EventType.NewMail, EventType.Created)
    return { subscriptionId: subscription.Id, watermark: subscription.Watermark }
  } catch (err) {
    throw classify(err, xhr)
  }
}

/**
 * What a failed call means, from how it ended (the XHR layer's record), never from message text:
 * no server answered or EWS answered other than 200 → unavailable (401 → the credentials); a 200 whose
 * response says ErrorAccessDenied and friends → not this mailbox. ews-javascript-api turns an EWS error
 * inside a 200 answer into a ServiceResponseException with a numeric ErrorCode.
 */
function classify (err: unknown, xhr: GatewayXhrApi): Error {
  if (xhr.transportFailure) return new EwsUnavailableError('EWS unavailable: no Exchange server answered', { cause: xhr.transportFailure })
  if (xhr.status === 401) return new EwsAuthError('Exchange refused the credentials', { cause: err })
  if (xhr.status !== undefined && xhr.status !== 200) return new EwsUnavailableError(`EWS unavailable: ${xhr.status}`, { cause: err })
  const errorCode = (err as { ErrorCode?: unknown }).ErrorCode
  if (typeof errorCode === 'number' && MAILBOX_REFUSALS.has(errorCode)) return new EwsMailboxError('Exchange refused the mailbox for these credentials', { cause: err })
  if (errorCode !== undefined) return err as Error
  return new EwsUnavailableError('EWS unavailable: unreadable answer', { cause: err })
}

/** EWS errors that mean "these credentials cannot open that mailbox". */
const MAILBOX_REFUSALS: ReadonlySet<number> = new Set([ServiceError.ErrorAccessDenied, ServiceError.ErrorNonExistentMailbox, ServiceError.ErrorFolderNotFound, ServiceError.ErrorInvalidSmtpAddress])
