/**
 * ProxyShell (CVE-2021-34473) and ProxyNotShell (CVE-2022-41040) reach Exchange's back end through
 * Autodiscover URLs such as `/autodiscover/autodiscover.json?@evil.com/PowerShell/?X-Rps-CAT=...`,
 * `...json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com`,
 * `...&Protocol=XYZ&FooProtocol=Powershell` and the `.xml?@` form. Microsoft's mitigation (the URL
 * Rewrite rule `(?=.*autodiscover)(?=.*powershell)`, later widened) is applied here at the edge, and
 * tightened to what clients really send: the documented parameters only, with address-shaped values.
 */

/** What JSON Autodiscover takes (`/autodiscover/autodiscover.json?Email=...&Protocol=...`, and the v1.0 path form). */
const JSON_PARAMETERS = new Map<string, RegExp>([
  ['email', /^[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/],
  ['protocol', /^[A-Za-z][A-Za-z0-9]{0,63}$/],
  ['redirectcount', /^\d{1,2}$/]
])
const V1_PATH = /^\/autodiscover\/autodiscover\.json(?:\/v1\.0\/[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253})?\/?$/i
const XML_PATH = /^\/autodiscover\/autodiscover\.xml$/i
/** Back-end targets of the published exploit chains. */
const BACKEND = /powershell|\/mapi|\/rps|x-rps-cat|\/owa\/|\/ecp\//i

/** Why an Autodiscover request is refused (answered 400), or undefined when it is an ordinary one. */
export function autodiscoverTargetProblem (path: string, rawUrl: string, query: string): string | undefined {
  const decoded = decodeTwice(rawUrl)
  if (decoded === undefined) return 'malformed percent-encoding'
  if (BACKEND.test(decoded)) return 'Autodiscover URL names a back-end service'
  if (/@[^&]*\//.test(decoded.slice(decoded.indexOf('?') + 1)) && decoded.includes('?')) return 'Autodiscover query carries @ followed by a path'
  const lower = path.toLowerCase()
  if (lower.startsWith('/autodiscover/autodiscover.json')) {
    if (!V1_PATH.test(path)) return 'unknown Autodiscover JSON path'
    return parametersProblem(query)
  }
  if (!XML_PATH.test(path)) return 'unknown Autodiscover path'
  return query === '' ? undefined : 'POX Autodiscover takes no query'
}

function parametersProblem (query: string): string | undefined {
  if (query === '') return undefined
  const seen = new Set<string>()
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) return 'Autodiscover parameter without a value'
    const name = safeDecode(pair.slice(0, eq))?.toLowerCase()
    const value = safeDecode(pair.slice(eq + 1).replace(/\+/g, ' '))
    if (name === undefined || value === undefined) return 'malformed percent-encoding'
    const shape = JSON_PARAMETERS.get(name)
    if (!shape) return `Autodiscover parameter ${name.slice(0, 32)} is not allowed`
    if (seen.has(name)) return `Autodiscover parameter ${name} given twice`
    seen.add(name)
    if (!shape.test(value)) return `Autodiscover parameter ${name} has an unexpected value`
  }
  return undefined
}

/** Percent-decoded twice (double encoding such as %2540 is a classic way past a filter). */
function decodeTwice (url: string): string | undefined {
  const once = safeDecode(url)
  return once === undefined ? undefined : safeDecode(once) ?? once
}

function safeDecode (text: string): string | undefined {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}
