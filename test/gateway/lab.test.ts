import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { decodeWbxml, findText } from '../../gateway/protocols/wbxml/codec.js'
import { spawnCli } from '../helpers/cli.js'
import { send } from '../helpers/http.js'
import { freePort, waitFor } from '../helpers/ports.js'

test('portcullis lab: simulated Exchange and Skype behind the gateway, the broken front end never seen', { timeout: 60_000 }, async t => {
  const [port, adminPort] = [await freePort(), await freePort()]
  const { child, output } = await spawnCli(['lab', '--port', String(port), '--admin-port', String(adminPort)], 'Ctrl-C stops the lab.', { PORTCULLIS_ADMIN_TOKEN: 'lab-test' })
  t.after(() => { child.kill('SIGKILL') })
  const g = `http://127.0.0.1:${port}`
  assert.match(output(), /curl -si -A '[^']+' -X OPTIONS/)
  const options = await send(`${g}/Microsoft-Server-ActiveSync`, { method: 'OPTIONS', headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } })
  assert.equal(options.status, 200)
  assert.match(String(options.headers['ms-asprotocolversions']), /14\.1/)
  assert.equal((await send(`${g}/Microsoft-Server-ActiveSync`, { method: 'OPTIONS' })).status, 401)
  const folders = await send(`${g}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=LAB1&DeviceType=iPhone`, { method: 'POST', body: 'x', headers: { authorization: 'Basic YWxpY2U6c2VjcmV0', 'ms-asprotocolversion': '14.1' } })
  assert.equal(findText(decodeWbxml(folders.body), 'FolderHierarchy:DisplayName'), 'Inbox')
  // fe03 answers like a stopped IIS app pool: no client ever sees its 503.
  for (let i = 0; i < 9; i++) {
    const res = await send(`${g}/ucwa/v1/applications`, { method: 'POST', body: '{"UserAgent":"lab","EndpointId":"1"}', headers: { 'content-type': 'application/json' } })
    assert.equal(res.status, 401)
  }
  const upstreams = await waitFor(async () => {
    const res = await send(`http://127.0.0.1:${adminPort}/api/upstreams`, { headers: { authorization: 'Bearer lab-test' } })
    const skype = (JSON.parse(res.body.toString()) as { upstreams: Array<{ name: string, servers: Array<{ up: boolean }> }> }).upstreams.find(u => u.name === 'skype')
    return skype?.servers.filter(s => !s.up).length === 1 ? skype : undefined
  }, 10_000, 'fe03 out of rotation')
  assert.equal(upstreams.servers.filter(s => s.up).length, 2)
  const blocked = await send(`${g}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=OUTLOOK1&DeviceType=Outlook`, { method: 'POST', body: 'x', headers: { authorization: 'Basic YWxpY2U6c2VjcmV0', 'user-agent': 'Outlook-iOS-Android/1.0', 'ms-asprotocolversion': '14.1' } })
  assert.equal(findText(decodeWbxml(blocked.body), 'FolderHierarchy:Status'), '129')
  // ENS: the lab phone subscribes, Exchange delivers a mail, the phone's push sink shows subject and sender.
  const phone = /phone {4}(http:\/\/127\.0\.0\.1:\d+)/.exec(output())?.[1] as string
  assert.equal((await send(`${phone}/subscribe`, { method: 'POST' })).status, 201)
  const delivered = JSON.parse((await send(`${phone}/deliver?subject=Lab%20test`, { method: 'POST' })).body.toString()) as Array<{ answer: string }>
  assert.deepEqual(delivered.map(d => d.answer), ['OK'])
  const pushes = JSON.parse((await send(`${phone}/pushes`)).body.toString()) as Array<{ subject: string, from: string }>
  assert.equal(pushes[0]?.subject, 'Lab test')
  assert.equal(pushes[0]?.from, 'Lab Sender')
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  child.kill('SIGINT')
  assert.equal(await exited, 0)
})

test('every command the lab prints works as printed', { timeout: 120_000 }, async t => {
  const [port, adminPort] = [await freePort(), await freePort()]
  const { child, output } = await spawnCli(['lab', '--port', String(port), '--admin-port', String(adminPort)], 'Ctrl-C stops the lab.', { PORTCULLIS_ADMIN_TOKEN: 'lab-test', PORTCULLIS_LAB_PING_HOLD_MS: '500' })
  t.after(() => { child.kill('SIGKILL') })
  // The printed commands: lines starting with curl or for, with their continuation lines.
  const commands: string[] = []
  let current = ''
  for (const line of output().split('\n')) {
    if (current) {
      current += '\n' + line
      if (!line.trimEnd().endsWith('\\')) { commands.push(current); current = '' }
    } else if (/^ {2}(curl|for) /.test(line)) {
      if (line.trimEnd().endsWith('\\')) current = line
      else commands.push(line)
    }
  }
  // What each command must show, by a piece of it.
  const expected: Array<[string, RegExp]> = [
    ['-X OPTIONS -u', /^HTTP\/1\.1 200/],
    ['-X OPTIONS ', /^HTTP\/1\.1 401/],
    ['DeviceId=LAB1&DeviceType=iPhone\' | od', /^ 03 01 6a 00/],
    ['Outlook-iOS-Android', / 31 32 39 /], // "129"
    ['Cmd=Ping', /^HTTP\/1\.1 200/],
    ['/EWS/Exchange.asmx', /^HTTP\/1\.1 200/],
    ['autodiscover.xml', /^HTTP\/1\.1 200/],
    ['for i in', /^(401\n){6}$/],
    ['/ucwa/oauth/', /"_links"|"id"|applications/],
    ['/subscribe', /"subscriptionId"/],
    ['/deliver', /"answer": ?"OK"/],
    ['/pushes', /Quarterly numbers/],
    ['/api/upstreams', /"upstreams"/],
    ['grep portcullis_upstream', /portcullis_upstream_server_up/],
    ['/owa/', /^HTTP\/1\.1 404/]
  ]
  assert.equal(commands.length, expected.length, commands.join('\n'))
  for (const command of commands) {
    const match = expected.find(([piece]) => command.includes(piece))
    assert.ok(match, `no expectation for ${command}`)
    const result = spawnSync('bash', ['-o', 'pipefail', '-c', command], { encoding: 'utf8', timeout: 20_000 })
    assert.equal(result.status, 0, `${command}\n${result.stderr}`)
    assert.match(result.stdout, match[1], command)
  }
})
