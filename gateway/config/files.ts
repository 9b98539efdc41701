import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { Config } from './schema.js'

type Found = Array<[PropertyKey[], string]>

/**
 * What `start` would fail on when it opens the files and secrets the config names: checked by `check`
 * and `start` alike, so both report the same `file:line:col` problem instead of a stack trace at start.
 */
export function fileProblems (config: Config): Found {
  const found: Found = []
  const tls = config.listen.tls
  if (tls) {
    const cert = readable(found, ['listen', 'tls', 'cert'], tls.cert)
    const key = readable(found, ['listen', 'tls', 'key'], tls.key)
    if (cert && key) attempt(found, ['listen', 'tls'], () => createSecureContext({ cert, key }), 'certificate and key do not form a usable pair')
  }
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (upstream.tls.caFile) readable(found, ['upstreams', name, 'tls', 'caFile'], upstream.tls.caFile)
  }
  const { apns, fcm } = config.ens.push
  if (config.ens.enabled && apns) {
    const key = readable(found, ['ens', 'push', 'apns', 'keyFile'], apns.keyFile)
    if (key) attempt(found, ['ens', 'push', 'apns', 'keyFile'], () => createPrivateKey(key), 'not a private key (expected the .p8 file from Apple)')
    if (apns.caFile) readable(found, ['ens', 'push', 'apns', 'caFile'], apns.caFile)
  }
  if (config.ens.enabled && fcm) {
    const account = readable(found, ['ens', 'push', 'fcm', 'serviceAccountFile'], fcm.serviceAccountFile)
    if (account) {
      attempt(found, ['ens', 'push', 'fcm', 'serviceAccountFile'], () => {
        const json = JSON.parse(account.toString('utf8')) as { private_key?: string, project_id?: string, client_email?: string }
        if (!json.project_id || !json.client_email || !json.private_key) throw new Error('missing project_id, client_email or private_key')
        createPrivateKey(json.private_key)
      }, 'not a Google service account file')
    }
  }
  const masterKeyEnv = config.ens.enabled ? config.ens.masterKeyEnv : undefined
  const masterKey = masterKeyEnv ? process.env[masterKeyEnv] : undefined
  if (masterKey !== undefined && Buffer.from(masterKey, 'base64').length !== 32) found.push([['ens', 'masterKeyEnv'], `${masterKeyEnv} must hold 32 bytes, base64-encoded`])
  return found
}

function readable (found: Found, path: PropertyKey[], file: string): Buffer | undefined {
  try {
    return readFileSync(file)
  } catch (err) {
    found.push([path, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`])
    return undefined
  }
}

function attempt (found: Found, path: PropertyKey[], run: () => unknown, message: string): void {
  try {
    run()
  } catch (err) {
    found.push([path, `${message} (${(err as Error).message.split('\n')[0]})`])
  }
}
