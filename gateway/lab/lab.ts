import { fileURLToPath } from 'node:url'
import { parseConfig } from '../config/load.js'
import { createLogger } from '../observability/log.js'
import { startGateway } from '../server/gateway.js'
import { stopOnSignal } from '../server/signals.js'
import { fakeExchange } from './fake-exchange.js'
import { fakeSkypeFrontEnd } from './fake-skype.js'
import type { SimServer } from './sim-server.js'
import { labDevice } from './lab-device.js'

/** User agents of real clients for the printed commands (the shipped policy blocks scripting clients). */
const IPHONE = 'Apple-iPhone15C2/2101.132'
const MAC_MAIL = 'Mac OS X/14.1 (23B74); ExchangeWebServices/13.0 (293); Mail/16.0'

export interface LabOptions {
  port: number
  adminPort: number
}

/** Starts the simulated servers on ephemeral ports: two Exchange servers and a Skype pool of three, fe03 broken. */
export async function startLabUpstreams (): Promise<{ exchange: Array<ReturnType<typeof fakeExchange>>, skype: SimServer[], close: () => Promise<void> }> {
  // PORTCULLIS_LAB_PING_HOLD_MS: how long the lab's Exchange holds a Ping (60 s, as a heartbeat would).
  const pingHoldMs = Number(process.env.PORTCULLIS_LAB_PING_HOLD_MS ?? 60_000)
  const exchange = [fakeExchange('exch01', { pingHoldMs }), fakeExchange('exch02', { pingHoldMs })]
  const skype = [fakeSkypeFrontEnd('fe01'), fakeSkypeFrontEnd('fe02'), fakeSkypeFrontEnd('fe03')]
  ;(skype[2] as SimServer).mode = 'iis-503' // the incident: one front end's IIS app pool is stopped
  await Promise.all([...exchange, ...skype].map(s => s.listen()))
  return { exchange, skype, close: async () => { await Promise.all([...exchange, ...skype].map(s => s.close())) } }
}

export function labConfigYaml (exchange: SimServer[], skype: SimServer[], port: number, adminPort: number, pushUrl: string): string {
  return `# portcullis lab: generated configuration
listen: { host: 127.0.0.1, port: ${port} }
publicUrl: http://127.0.0.1:${port}
admin: { host: 127.0.0.1, port: ${adminPort}, tokenEnv: PORTCULLIS_ADMIN_TOKEN }
upstreams:
  exchange:
    servers: [${exchange.map(s => s.url).join(', ')}]
    healthCheck: { path: /Microsoft-Server-ActiveSync, expect: [401], intervalMs: 2000, timeoutMs: 1000 }
  skype:
    servers: [${skype.map(s => s.url).join(', ')}]
    healthCheck: { path: /ucwa/v1/applications, expect: [401], intervalMs: 2000, timeoutMs: 1000 }
services:
  activesync: { upstream: exchange }
  ews: { upstream: exchange }
  autodiscover: { upstream: exchange }
  ucwa: { upstream: skype }
policies: ${fileURLToPath(new URL('../../policies/policies.yaml', import.meta.url))}
ens:
  enabled: true
  ews: { upstream: exchange }
  push: { webhook: { url: ${pushUrl} } }
`
}

/** `portcullis lab`: the gateway against simulated Exchange and Skype servers, with curl commands to try. */
export async function runLab (options: LabOptions): Promise<void> {
  process.env.PORTCULLIS_ADMIN_TOKEN ??= 'lab-admin-token'
  const upstreams = await startLabUpstreams()
  const exchange = upstreams.exchange
  for (const server of exchange) server.ews.users = { 'alice@example.com': 'secret' }
  let gatewayUrl = `http://127.0.0.1:${options.port}` // the real one once listening (--port 0 picks a free port)
  const phone = labDevice(exchange.map(s => s.ews), () => gatewayUrl)
  await phone.listen()
  const config = parseConfig(labConfigYaml(exchange, upstreams.skype, options.port, options.adminPort, `${phone.url}/push`), '<lab>')
  const log = createLogger(process.env.PORTCULLIS_LOG_LEVEL ?? 'warn')
  const gateway = await startGateway(config, log)
  const g = gateway.url
  gatewayUrl = g
  const a = gateway.adminUrl
  process.stdout.write(`
Portcullis lab is running.
  gateway  ${g}
  admin    ${a}   (admin token: ${process.env.PORTCULLIS_ADMIN_TOKEN})
  exchange ${exchange.map(s => `${s.name}=${s.url}`).join('  ')}  (EWS user alice@example.com / secret)
  phone    ${phone.url}   (the lab's mail app and push sink)
  skype    ${upstreams.skype.map(s => `${s.name}=${s.url}${s.mode === 'iis-503' ? ' (broken: IIS 503)' : ''}`).join('  ')}

Try (the commands send a phone's user agent: the shipped policy blocks curl's own):
  # ActiveSync discovery: 401 without credentials, then the MS-AS headers
  curl -si -A '${IPHONE}' -X OPTIONS ${g}/Microsoft-Server-ActiveSync
  curl -si -A '${IPHONE}' -X OPTIONS -u alice:secret ${g}/Microsoft-Server-ActiveSync
  # FolderSync (a WBXML answer, shown in hex; wbxml2xml decodes it)
  curl -s -A '${IPHONE}' -u alice:secret -H 'Content-Type: application/vnd.ms-sync.wbxml' -H 'MS-ASProtocolVersion: 14.1' \\
       --data-binary @/dev/null '${g}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=LAB1&DeviceType=iPhone' | od -An -tx1 | head
  # The Outlook cloud service (Basic auth) is blocked by the shipped policy: Status 129 (0x81) in WBXML
  curl -s -u alice:secret -A 'Outlook-iOS-Android/1.0' -H 'MS-ASProtocolVersion: 14.1' --data x \\
       '${g}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=OUTLOOK1&DeviceType=Outlook' | od -An -tx1
  # A held Ping (the lab's Exchange answers after 60 s, or Ctrl-C)
  curl -si -A '${IPHONE}' -u alice:secret -X POST '${g}/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=LAB1&DeviceType=iPhone'
  # EWS and Autodiscover
  curl -si -A '${MAC_MAIL}' -u alice@example.com:secret -H 'Content-Type: text/xml' --data '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetFolder/></s:Body></s:Envelope>' ${g}/EWS/Exchange.asmx
  curl -si -A '${IPHONE}' -u alice:secret -H 'Content-Type: text/xml' --data '<Autodiscover/>' ${g}/autodiscover/autodiscover.xml
  # Skype sign-in: fe03 answers 503 like a stopped IIS app pool; every request still gets 401/201
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code}\\n' -X POST -H 'Content-Type: application/json' --data '{"UserAgent":"lab","EndpointId":"1"}' ${g}/ucwa/v1/applications; done
  curl -s -H 'Authorization: Bearer cwt=lab' -H 'Content-Type: application/json' --data '{"UserAgent":"lab","EndpointId":"1"}' ${g}/ucwa/oauth/v1/applications
  # ENS: the lab phone subscribes (key, RSA-OAEP credentials, EWS push subscription), Exchange delivers, the phone is pushed
  curl -s -X POST ${phone.url}/subscribe
  curl -s -X POST '${phone.url}/deliver?subject=Quarterly%20numbers'
  curl -s ${phone.url}/pushes
  # What the gateway thinks of its servers (fe03 ejected / failing checks), and the metrics
  curl -s -H 'Authorization: Bearer ${process.env.PORTCULLIS_ADMIN_TOKEN}' ${a}/api/upstreams
  curl -s ${a}/metrics | grep portcullis_upstream
  curl -si ${g}/owa/   # not published: 404, reaches nobody

Ctrl-C stops the lab.
`)
  await stopOnSignal(gateway)
  await phone.close()
  await upstreams.close()
}
