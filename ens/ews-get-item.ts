import type { Credentials } from './crypto.js'
import { ENS_USER_AGENT, EwsAuthError, EwsUnavailableError } from './ews-client.js'
import { ewsPost, type EwsHttpAnswer, type EwsTarget } from './ews-http.js'
import { getItemRequest, readGetItemResponse, soapFaultCode, type GetItemResult } from './ews-soap.js'

/**
 * Subject and sender of one message: a GetItem built for this one call, carrying this user's Basic
 * credentials and nothing else, sent over the Exchange pool (with its failover).
 *
 * Not through ews-javascript-api, on purpose. Its Bind costs about 0.75 ms of CPU per call here (it
 * builds a service object graph, parses its own request back into a DOM for debug logging, then parses
 * the response with @xmldom/xmldom), which alone capped ENS at about 500 notifications/s per core
 * (bench/README.md, "ENS"). This request is the same bytes it sends, and what the design asks of the
 * "new ExchangeService and XhrApi per call" holds: nothing of one user's call is kept or shared except
 * pooled TCP connections, which carry no user state under Basic (each request authenticates itself).
 * Subscriptions, rare and richer, still go through ews-javascript-api (ens/ews-client.ts).
 */
export async function fetchSubjectAndSender (target: EwsTarget, credentials: Credentials, itemId: string): Promise<GetItemResult> {
  let answer: EwsHttpAnswer
  try {
    answer = await ewsPost(target, {
      'content-type': 'text/xml; charset=utf-8',
      accept: 'text/xml',
      'user-agent': ENS_USER_AGENT,
      authorization: 'Basic ' + Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')
    }, getItemRequest(itemId))
  } catch (err) {
    throw new EwsUnavailableError('EWS unavailable: no Exchange server answered', { cause: err })
  }
  if (answer.status === 401) throw new EwsAuthError('Exchange refused the credentials')
  if (answer.status !== 200) throw new EwsUnavailableError(`EWS unavailable: ${answer.status}${answer.status === 500 ? ` ${soapFaultCode(answer.body) ?? ''}` : ''}`)
  try {
    return readGetItemResponse(answer.body)
  } catch (err) {
    throw new EwsUnavailableError('EWS answered 200 without a GetItemResponse', { cause: err })
  }
}
