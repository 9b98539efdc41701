import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { loadConfig } from '../../gateway/config/load.js'
import { createLogger } from '../../gateway/observability/log.js'
import { startGateway } from '../../gateway/server/gateway.js'

// A gateway in a process of its own (so the test's fake servers and clients are not on its heap),
// started from the config file in argv[2]. Prints its URL, then answers each `measure` line on stdin
// with its heap after two full collections (run with --expose-gc).
const config = loadConfig(process.argv[2] as string)
const sink = new Writable({ write (_chunk, _encoding, done) { done() } })
const gateway = await startGateway(config, createLogger('warn', sink))
const gc = (globalThis as { gc?: () => void }).gc as () => void
process.stdout.write(JSON.stringify({ url: gateway.url }) + '\n')
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'measure') {
    gc()
    await new Promise(resolve => setImmediate(resolve))
    gc()
    process.stdout.write(JSON.stringify({ heapUsed: process.memoryUsage().heapUsed }) + '\n')
  }
}
await gateway.stop()
process.exit(0)
