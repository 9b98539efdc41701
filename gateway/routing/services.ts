import type { ServiceName } from '../config/schema.js'

/** What a request can be routed to: a published (proxied) service, or ENS, which the gateway serves itself. */
export type RoutedService = ServiceName | 'ens'

/**
 * Which published service a canonical path belongs to. Paths follow what Exchange and the Lync/Skype
 * external web site publish (their IIS virtual directories); anything else answers 404 and reaches nobody.
 * Lookup is by the first path segment (and the second under /autodiscover/), so it costs one Map get.
 */
const BY_FIRST_SEGMENT = new Map<string, ServiceName>([
  ['microsoft-server-activesync', 'activesync'],
  ['ews', 'ews'],
  // Skype for Business / Lync external web services
  ['ucwa', 'ucwa'],
  ['webticket', 'ucwa'],
  ['mcx', 'ucwa'],
  ['abs', 'ucwa'],
  ['groupexpansion', 'ucwa'],
  ['certprov', 'ucwa'],
  ['collabcontent', 'ucwa'],
  ['requesthandlerext', 'ucwa'],
  ['rgsclients', 'ucwa'],
  ['meet', 'ucwa'],
  ['dialin', 'ucwa'],
  ['scheduler', 'ucwa'],
  ['reach', 'ucwa'],
  ['passiveauth', 'ucwa'],
  ['persistentchat', 'ucwa'],
  ['hybridconfig', 'ucwa'],
  ['lwa', 'ucwa'],
  ['datacollabweb', 'ucwa']
])

const UNDER_AUTODISCOVER = new Map<string, ServiceName>([
  ['autodiscover.xml', 'autodiscover'], // Exchange POX Autodiscover
  ['autodiscover.json', 'autodiscover'], // Exchange 2019 / Outlook mobile JSON Autodiscover
  ['autodiscoverservice.svc', 'ucwa'], // Lync/Skype Autodiscover (lyncdiscover)
  ['xframe', 'ucwa']
])

/** ENS's device API and Exchange's callback, under /api/ens and /MailNotifications/api/ens (design.md, "ENS"). */
const ENS_PREFIXES = ['/api/ens/', '/mailnotifications/api/ens/']

/** Services whose paths must be followed by nothing else than '/' or the end (no `/ewsfoo`). */
export function serviceForPath (canonicalPath: string, host: string | undefined): RoutedService | undefined {
  const lower = canonicalPath.toLowerCase()
  const end = lower.indexOf('/', 1)
  const first = end === -1 ? lower.slice(1) : lower.slice(1, end)
  if ((first === 'api' || first === 'mailnotifications') && ENS_PREFIXES.some(prefix => lower.startsWith(prefix))) return 'ens'
  if (first === 'autodiscover') {
    if (end === -1) return undefined
    const end2 = lower.indexOf('/', end + 1)
    return UNDER_AUTODISCOVER.get(end2 === -1 ? lower.slice(end + 1) : lower.slice(end + 1, end2))
  }
  if (first === '' && host !== undefined && /^lyncdiscover(internal)?\./i.test(host)) {
    return 'ucwa' // `GET /` on lyncdiscover.<domain>: the mobile client's first sign-in step
  }
  return BY_FIRST_SEGMENT.get(first)
}

/** Methods each service accepts; others get 405 without reaching an upstream. */
export const ALLOWED_METHODS: Record<RoutedService, ReadonlySet<string>> = {
  ens: new Set(['GET', 'POST']),
  activesync: new Set(['POST', 'OPTIONS']),
  ews: new Set(['POST', 'GET', 'HEAD', 'OPTIONS']),
  autodiscover: new Set(['POST', 'GET', 'HEAD', 'OPTIONS']),
  ucwa: new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'])
}
