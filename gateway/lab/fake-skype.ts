import { sendJson as json, SimServer } from './sim-server.js'

export interface FakeSkypeOptions {
  /** How long an event channel P-GET is held before it is released empty. */
  eventHoldMs?: number
}

/**
 * A simulated Skype for Business front end (external web services on 4443): lyncdiscover, UCWA
 * application creation, the event channel, each answering 401 + MsRtcOAuth without a token, exactly
 * the "healthy" answer of the incident (README, "Upstream 503s"). Set `mode = 'iis-503'` to break it.
 */
export function fakeSkypeFrontEnd (name: string, options: FakeSkypeOptions = {}): SimServer {
  const eventHoldMs = options.eventHoldMs ?? 180_000
  const sim: SimServer = new SimServer(name, (req, res, body) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.toLowerCase()
    const host = req.headers.host ?? 'lyncweb.example.com'
    if (path === '/' || path.startsWith('/autodiscover/autodiscoverservice.svc/root')) {
      if (!path.includes('/user')) {
        return json(res, 200, { _links: { self: { href: `https://${host}/Autodiscover/AutodiscoverService.svc/root` }, user: { href: `https://${host}/Autodiscover/AutodiscoverService.svc/root/oauth/user` } } })
      }
    }
    const auth = req.headers.authorization ?? ''
    if (!auth.startsWith('Bearer ')) {
      res.writeHead(401, {
        'content-type': 'text/html',
        server: 'Microsoft-IIS/8.5',
        'www-authenticate': `MsRtcOAuth href="https://${host}/WebTicket/oauthtoken",grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"`,
        'x-ms-server-fqdn': name,
        'content-length': 0
      })
      res.end()
      return
    }
    if (req.method === 'POST' && /\/ucwa\/(oauth\/)?v1\/applications$/.test(path)) {
      let request: { EndpointId?: string, endpointId?: string }
      try {
        request = JSON.parse(body.toString('utf8') || '{}') as typeof request
      } catch {
        return json(res, 400, { code: 'BadRequest', message: 'body is not JSON' })
      }
      return json(res, 201, {
        _links: { self: { href: '/ucwa/oauth/v1/applications/103645603125' }, events: { href: '/ucwa/oauth/v1/applications/103645603125/events?ack=1' } },
        endpointId: request.EndpointId ?? request.endpointId ?? null,
        servedBy: name
      }, { 'x-ms-server-fqdn': name })
    }
    if (req.method === 'GET' && /\/events$/.test(path)) {
      sim.hold(res)
      const timer = setTimeout(() => json(res, 200, { _links: { next: { href: `${path}?ack=2` } }, sender: [] }), eventHoldMs)
      res.on('close', () => clearTimeout(timer))
      return
    }
    json(res, 200, { servedBy: name })
  })
  return sim
}
