import { parseArgs } from 'node:util'
import { ConfigError } from './config/problems.js'
import { configWarnings, loadConfig } from './config/load.js'
import { createLogger } from './observability/log.js'
import { startGateway } from './server/gateway.js'
import { stopOnSignal } from './server/signals.js'
import { runLab } from './lab/lab.js'

const USAGE = `usage: portcullis <command> [options]

commands:
  start  [--config FILE]   run the gateway (default config.yaml, or $PORTCULLIS_CONFIG)
  check  [--config FILE]   validate the config and the files it names
  lab    [--port N] [--admin-port N]
                           run against built-in simulated Exchange and Skype servers
`

/** Entry point of the `portcullis` command. Exit codes: 0 fine, 1 invalid input, 2 usage. */
async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  })
  const configFile = values.config ?? process.env.PORTCULLIS_CONFIG ?? 'config.yaml'
  switch (command) {
    case 'check':
      return check(configFile)
    case 'start':
      return start(configFile)
    case 'lab':
      await runLab({ port: Number(values.port ?? 8080), adminPort: Number(values['admin-port'] ?? 9090) })
      return 0
    default:
      process.stderr.write(USAGE)
      return command === undefined || command === 'help' || values.help ? 0 : 2
  }
}

function check (file: string): number {
  try {
    const config = loadConfig(file)
    const upstreams = Object.entries(config.upstreams).map(([name, u]) => `${name} (${u.servers.length})`).join(', ')
    const services = Object.entries(config.services).map(([name, s]) => `${name}→${s.upstream}`).join(', ')
    for (const warning of configWarnings(config)) process.stdout.write(`${file}: warning: ${warning}\n`)
    process.stdout.write(`${file}: ok; upstreams: ${upstreams}; services: ${services || 'none'}\n`)
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
  const gateway = await startGateway(config, log)
  await stopOnSignal(gateway)
  return 0
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  process.stderr.write(`portcullis: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
