import { spawn } from 'node:child_process'
import type { TestContext } from 'node:test'
import { freePort, waitFor } from './ports.js'
import { Redis } from 'ioredis'

/** A real redis-server on an ephemeral port, nothing on disk, stopped after the test. */
export async function startRedis (t: TestContext): Promise<{ url: string, client: Redis }> {
  const port = await freePort()
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.after(() => { server.kill('SIGTERM') })
  const url = `redis://127.0.0.1:${port}`
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  await waitFor(async () => { await client.connect().catch(() => {}); return await client.ping() === 'PONG' ? true : undefined }, 10_000, 'redis-server')
  t.after(() => client.disconnect())
  return { url, client }
}
