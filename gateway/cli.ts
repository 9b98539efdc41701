import { parseArgs } from 'node:util'
import { ConfigError } from './config/problems.js'
import { configWarnings, loadConfig, type LoadedConfig } from './config/load.js'
import { explain } from './explain.js'
import { createLogger } from './observability/log.js'
import { startGateway } from './server/gateway.js'
import { stopOnSignal } from './server/signals.js'

const USAGE = `usage: portcullis <command> [options]

commands:
  start  [--config FILE]   run the gateway (default config.yaml, or $PORTCULLIS_CONFIG)
  check  [--config FILE]   validate the config and the files it names
  explain [--config FILE] --protocol P --user-agent UA [--device-type T] [--device-id D]
         [--device-model M] [--device-os O] [--user U] [--command C]
         [--auth basic|bearer|ntlm|negotiate|none] [--ip A] [--json]
                           the policy decision for such a client, and the rule that made it
  lab    [--port N] [--admin-port N]
                           run against built-in simulated Exchange and Skype servers
`

/** Entry point of the `portcullis` command. Exit codes: 0 fine, 1 invalid input, 2 usage. */
async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  let parsed
  try {
    parsed = parseOptions(rest)
  } catch (err) {
    process.stderr.write(`portcullis: ${(err as Error).message} (see portcullis --help)\n`)
    return 1
  }
  return run(command, parsed.values)
}

function parseOptions (rest: string[]) {
  return parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      protocol: { type: 'string' },
      'user-agent': { type: 'string' },
      'device-type': { type: 'string' },
      'device-id': { type: 'string' },
      'device-model': { type: 'string' },
      'device-os': { type: 'string' },
      user: { type: 'string' },
      command: { type: 'string' },
      auth: { type: 'string' },
      ip: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  })
}

async function run (command: string | undefined, values: ReturnType<typeof parseOptions>['values']): Promise<number> {
  const configFile = values.config ?? process.env.PORTCULLIS_CONFIG ?? 'config.yaml'
  switch (command) {
    case 'check':
      return check(configFile)
    case 'start':
      return start(configFile)
    case 'explain':
      return await withConfig(configFile, async config => {
        const { text, code } = explain(config, values)
        ;(code === 0 ? process.stdout : process.stderr).write(text)
        if (code !== 0 || values.user === undefined || !config.protection) return code
        // With --user and account protection: the account's state, from the shared store.
        const { explainProtection } = await import('./protection/explain-protection.js')
        const state = await explainProtection(config, values.user)
        process.stdout.write(values.json ? JSON.stringify({ protection: state.json }) + '\n' : state.text)
        return 0
      })
    case 'lab':
      // Loaded only for the lab: `portcullis start` never loads the simulators.
      await (await import('./lab/lab.js')).runLab({ port: Number(values.port ?? 8080), adminPort: Number(values['admin-port'] ?? 9090) })
      return 0
    default:
      process.stderr.write(USAGE)
      return command === undefined || command === 'help' || values.help ? 0 : 2
  }
}

async function withConfig (file: string, run: (config: LoadedConfig) => Promise<number>): Promise<number> {
  let config: LoadedConfig
  try {
    config = loadConfig(file)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(err.message + '\n')
    return 1
  }
  return await run(config)
}

function check (file: string): number {
  try {
    const config = loadConfig(file)
    const upstreams = Object.entries(config.upstreams).map(([name, u]) => `${name} (${u.servers.length})`).join(', ')
    const services = Object.entries(config.services).flatMap(([name, s]) => s ? [`${name}→${s.upstream}`] : []).join(', ')
    const policy = config.policies ? `; policies: ${config.policies}` : ''
    for (const warning of configWarnings(config)) process.stdout.write(`${file}: warning: ${warning}\n`)
    process.stdout.write(`${file}: ok; upstreams: ${upstreams}; services: ${services || 'none'}${policy}\n`)
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(err.message + '\n')
    return 1
  }
}

async function start (file: string): Promise<number> {
  let config
  try {
    config = loadConfig(file)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(err.message + '\n')
    return 1
  }
  const log = createLogger(config.log.level)
  for (const warning of configWarnings(config)) log.warn(warning)
  let gateway
  try {
    gateway = await startGateway(config, log)
  } catch (err) {
    // A port in use, an address that is not this host's, a file that vanished since the check: one line.
    const e = err as NodeJS.ErrnoException & { address?: string, port?: number }
    const where = e.address !== undefined ? ` ${e.address}:${e.port ?? ''}` : ''
    process.stderr.write(`portcullis: cannot start: ${e.code ? `${e.code}${where}: ` : ''}${e.message.split('\n')[0]}\n`)
    log.flush()
    return 1
  }
  process.on('SIGHUP', () => gateway.reloadPolicies('SIGHUP'))
  await stopOnSignal(gateway)
  return 0
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  // One line for the admin; the stack only when asked for (PORTCULLIS_DEBUG=1).
  process.stderr.write(`portcullis: ${process.env.PORTCULLIS_DEBUG ? (err as Error).stack : (err as Error).message}\n`)
  process.exitCode = 1
})
