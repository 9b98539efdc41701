/** An upstream's 401 as the gateway replays it: the challenge headers in order, the content type, the body. */
export interface Challenge {
  headers: string[]
  body: Buffer
}

const MAX_BODY = 8192
/** What IIS sends Exchange's clients before the gateway has seen a 401 of its own (Exchange's default methods). */
const DEFAULT_CHALLENGE: Challenge = {
  headers: ['www-authenticate', 'Negotiate', 'www-authenticate', 'NTLM', 'www-authenticate', 'Basic realm=""', 'content-type', 'text/html'],
  body: Buffer.from('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>\r\n<title>401 - Unauthorized: Access is denied due to invalid credentials.</title>\r\n</head>\r\n<body>\r\n<div id="header"><h1>Server Error</h1></div>\r\n<div id="content">\r\n <div class="content-container"><fieldset>\r\n  <h2>401 - Unauthorized: Access is denied due to invalid credentials.</h2>\r\n  <h3>You do not have permission to view this directory or page using the credentials that you supplied.</h3>\r\n </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n')
}

/**
 * The last 401 each service's upstream sent to a credentialed request, so that a credential the gateway
 * refuses itself gets the very answer Exchange gives (every WWW-Authenticate in order: Exchange sends
 * Bearer and Basic side by side, and clients choose by them). Nothing of a user is in it.
 */
export class ChallengeMemory {
  readonly #last = new Map<string, Challenge>()

  learn (service: string, rawHeaders: readonly string[], body: Buffer): void {
    const headers: string[] = []
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = (rawHeaders[i] as string).toLowerCase()
      if (name === 'www-authenticate' || name === 'content-type') headers.push(name, rawHeaders[i + 1] as string)
    }
    if (headers.includes('www-authenticate')) this.#last.set(service, { headers, body: body.length <= MAX_BODY ? body : Buffer.alloc(0) })
  }

  of (service: string): Challenge {
    return this.#last.get(service) ?? DEFAULT_CHALLENGE
  }
}
