import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import { configSchema } from '../../gateway/config/schema.js'
import type { LoadedConfig } from '../../gateway/config/load.js'
import { createLogger } from '../../gateway/observability/log.js'
import { startGateway, type Gateway } from '../../gateway/server/gateway.js'

/** Log lines a test gateway wrote, parsed, plus the raw text (to search for leaked secrets). */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = []
  raw = ''
  override _write (chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    const text = chunk.toString('utf8')
    this.raw += text
    for (const line of text.split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>)
    done()
  }

  find (msg: string): Array<Record<string, unknown>> {
    return this.lines.filter(l => l.msg === msg)
  }
}

/**
 * Starts a gateway on ephemeral ports for one test and stops it afterwards. `config` is the
 * config.yaml object (validated by the real schema); listeners default to 127.0.0.1:0.
 */
export async function startTestGateway (t: TestContext, config: Record<string, unknown>): Promise<{ gateway: Gateway, logs: LogCapture, config: LoadedConfig }> {
  const parsed = configSchema.parse({
    publicUrl: 'https://mobile.example.com',
    listen: { host: '127.0.0.1', port: 0 },
    ...config,
    admin: { host: '127.0.0.1', port: 0, ...(config.admin as object | undefined) }
  })
  const loaded: LoadedConfig = { ...parsed, source: '<test>' }
  const logs = new LogCapture()
  const gateway = await startGateway(loaded, createLogger('debug', logs))
  t.after(() => gateway.stop())
  return { gateway, logs, config: loaded }
}

/** Closes simulated servers after the test. */
export function closeAfter (t: TestContext, ...servers: Array<{ close: () => Promise<void> }>): void {
  t.after(() => Promise.all(servers.map(s => s.close())))
}
