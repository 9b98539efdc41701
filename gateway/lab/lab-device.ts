import { constants, createHash, publicEncrypt } from 'node:crypto'
import { request } from 'undici'
import type { FakeEws } from './fake-ews.js'
import { SimServer } from './sim-server.js'

/**
 * The lab's phone and push sink: `POST /subscribe` does what a mail app does (asks the gateway for a
 * key, encrypts "user:password" to it, subscribes with a webhook device pointing back here),
 * `POST /deliver` makes the simulated Exchange deliver a mail, `GET /pushes` shows what the phone got.
 */
export function labDevice (servers: FakeEws[], gatewayUrl: () => string): SimServer {
  const pushes: unknown[] = []
  const device: SimServer = new SimServer('lab-phone', (req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://lab')
    const reply = (status: number, value: unknown): void => {
      const text = JSON.stringify(value, null, 2) + '\n'
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }
    if (req.method === 'POST' && url.pathname === '/push') {
      pushes.push(JSON.parse(body.toString()))
      return reply(200, { ok: true })
    }
    if (req.method === 'GET' && url.pathname === '/pushes') return reply(200, pushes)
    if (req.method === 'POST' && url.pathname === '/subscribe') {
      subscribe(gatewayUrl(), `${device.url}/push`, url.searchParams.get('user') ?? 'alice@example.com', url.searchParams.get('password') ?? 'secret')
        .then(result => reply(result.status, result.body), err => reply(502, { error: (err as Error).message }))
      return
    }
    if (req.method === 'POST' && url.pathname === '/deliver') {
      const subject = url.searchParams.get('subject') ?? 'Hello from the lab'
      Promise.all(servers.flatMap(ews => ews.subscriptions.map(s => ews.deliverMail(s, { subject, from: 'Lab Sender', email: 'sender@example.com' }))))
        .then(results => reply(200, results.map(r => ({ exchangeGot: r.status, answer: /<SubscriptionStatus>(\w+)/.exec(r.body)?.[1] }))), err => reply(502, { error: (err as Error).message }))
      return
    }
    reply(404, { error: 'POST /subscribe, POST /deliver?subject=..., GET /pushes' })
  })
  return device
}

async function subscribe (gateway: string, pushUrl: string, email: string, password: string): Promise<{ status: number, body: unknown }> {
  const userId = createHash('sha256').update(email.toLowerCase()).digest('hex')
  const keyRes = await request(`${gateway}/api/ens/publickey`, { method: 'POST', body: JSON.stringify({ userId }), headers: { 'content-type': 'application/json' } })
  const key = await keyRes.body.json() as { keyId: string, publicKey: string }
  const credentials = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(`${email}:${password}`)).toString('base64url')
  const res = await request(`${gateway}/api/ens/subscribe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, keyId: key.keyId, credentials, emailAddress: email, device: { id: 'lab-phone', platform: 'webhook', token: pushUrl } })
  })
  return { status: res.statusCode, body: await res.body.json() }
}
