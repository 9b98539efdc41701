import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url))

/** Runs `portcullis ...args` to completion. */
export function runCli (args: string[], env: Record<string, string> = {}): { code: number, stdout: string, stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 })
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
}

/** Starts `portcullis ...args` in the background; resolves when it printed `readyText` on stdout. */
export function spawnCli (args: string[], readyText: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess, output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const onData = (chunk: Buffer): void => {
      out += chunk.toString()
      if (out.includes(readyText)) resolve({ child, output: () => out })
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', code => reject(new Error(`exited ${code} before ready: ${out}`)))
  })
}
