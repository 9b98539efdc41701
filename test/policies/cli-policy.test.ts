import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { SimServer } from '../../gateway/lab/sim-server.js'
import { runCli, spawnCli } from '../helpers/cli.js'
import { closeAfter } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { waitFor } from '../helpers/ports.js'

/** A minimal EWS request: a rule reads `command`, so EWS bodies must be SOAP. */
const SOAP = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetFolder xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>'
const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-policy-'))
const shipped = new URL('../../policies/policies.yaml', import.meta.url).pathname
function config (name: string, policies: string, extra = ''): string {
  const file = join(dir, name)
  writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }
publicUrl: https://mobile.example.com
admin: { host: 127.0.0.1, port: 0 }
upstreams: { exchange: { servers: ['${extra || 'https://exch01.corp.example'}'] } }
services: { activesync: { upstream: exchange }, ews: { upstream: exchange } }
policies: ${policies}
`)
  return file
}

test('explain prints the decision and the rule, in text and JSON', () => {
  const file = config('explain.yaml', shipped)
  const blocked = runCli(['explain', '--config', file, '--protocol', 'activesync', '--user-agent', 'Outlook-iOS-Android/1.0', '--auth', 'basic', '--device-type', 'Outlook'])
  assert.equal(blocked.code, 0)
  assert.equal(blocked.stdout, 'BLOCK by rule "block-outlook-cloud-basic-auth": the Outlook cloud service stores mailbox passwords outside the company\n')
  const allowed = runCli(['explain', '--config', file, '--protocol', 'activesync', '--user-agent', 'Outlook-iOS-Android/1.0', '--auth', 'bearer', '--json'])
  assert.deepEqual(JSON.parse(allowed.stdout), { action: 'allow', rule: 'default', reason: null, flags: [], policy: shipped })
  const legacy = runCli(['explain', '--config', file, '--protocol', 'ews', '--user-agent', 'curl/8.4', '--ip', '203.0.113.5', '--json'])
  assert.equal(JSON.parse(legacy.stdout).rule, 'block-scripting-clients')
  assert.equal(runCli(['explain', '--config', file, '--protocol', 'gopher']).code, 2)
})

test('check validates the policy files a config names, with their positions', () => {
  const bad = join(dir, 'bad-policy.yaml')
  writeFileSync(bad, 'rules:\n  - { name: x, action: block, match: { userAgent: "/(a)\\\\1/" } }\n')
  const result = runCli(['check', '--config', config('with-bad-policy.yaml', bad)])
  assert.equal(result.code, 1)
  assert.match(result.stderr, new RegExp(`^${bad}:2:\\d+: rules\\.0\\.match: invalid regular expression`))
})

test('SIGHUP reloads the policy of a running gateway', { timeout: 30_000 }, async t => {
  const origin = new SimServer('exch', (_req, res) => { res.writeHead(200, { 'content-length': 2 }); res.end('ok') })
  await origin.listen()
  closeAfter(t, origin)
  const policy = join(dir, 'hup.yaml')
  writeFileSync(policy, 'rules: []\n')
  const { child, output } = await spawnCli(['start', '--config', config('hup-config.yaml', policy, origin.url)], '"gateway listening"')
  t.after(() => { child.kill('SIGKILL') })
  const url = /"url":"([^"]+)"/.exec(output())?.[1] as string
  const curl = async (): Promise<number> => (await send(`${url}/EWS/Exchange.asmx`, { method: 'POST', body: SOAP, headers: { 'user-agent': 'curl/8.4' } })).status
  assert.equal(await curl(), 200)
  // Written through a rename, as editors do; the watch may or may not see it: SIGHUP must.
  writeFileSync(policy + '.new', 'rules:\n  - { name: no-curl, action: block, match: { userAgent: "curl/*" } }\n')
  const { renameSync } = await import('node:fs')
  renameSync(policy + '.new', policy)
  child.kill('SIGHUP')
  await waitFor(async () => await curl() === 403 ? true : undefined, 5000, 'the reloaded policy')
  // The log is written asynchronously (pino): wait for the line rather than race it.
  await waitFor(async () => output().includes('"policy reloaded"') ? true : undefined, 5000, 'the reload log line')
})

test('explain shows the flag rules a client matched on its way to the decision', () => {
  const file = config('explain-flag.yaml', shipped)
  const ruler = runCli(['explain', '--config', file, '--protocol', 'autodiscover', '--user-agent', 'ruler', '--method', 'GET', '--path', '/autodiscover/autodiscover.xml', '--auth', 'ntlm'])
  assert.equal(ruler.code, 0, ruler.stderr)
  assert.match(ruler.stdout, /^ALLOW by no rule matched: the default applies \(flagged by "spray-autodiscover-get-with-credentials", "spray-tool-user-agents"\)/)
  const json = JSON.parse(runCli(['explain', '--config', file, '--protocol', 'autodiscover', '--user-agent', 'ruler', '--method', 'GET', '--path', '/autodiscover/autodiscover.xml', '--auth', 'ntlm', '--json']).stdout)
  assert.deepEqual(json.flags, ['spray-autodiscover-get-with-credentials', 'spray-tool-user-agents'])
})
