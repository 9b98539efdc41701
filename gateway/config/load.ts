import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { configSchema, SERVICE_NAMES, type Config } from './schema.js'
import { fileProblems } from './files.js'
import { ConfigError, locate, pathText, type Problem } from './problems.js'
import { documentValue, parseYaml, schemaProblems } from './yaml.js'
import { loadPolicy, type LoadedPolicy } from '../policy/load-policy.js'
import { limitsOf } from '../protection/account-guard.js'

/** A validated configuration with every relative file path resolved against the config's folder. */
export interface LoadedConfig extends Config {
  /** The file it came from (or a label such as `<lab>`). */
  source: string
  /** The policy file as `check` validated it, compiled: `start` uses it instead of reading the file again. */
  readonly compiledPolicy?: LoadedPolicy
}

/** Reads, validates and resolves a config file. Throws ConfigError listing every problem. */
export function loadConfig (file: string): LoadedConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: `cannot read: ${(err as Error).message}` }])
  }
  return parseConfig(text, file)
}

/** Things that work but probably not as the admin meant (printed by `check` and at start). */
export function configWarnings (config: Config): string[] {
  const warnings: string[] = []
  if (config.admin.tokenEnv && !process.env[config.admin.tokenEnv]) {
    warnings.push(`admin.tokenEnv: environment variable ${config.admin.tokenEnv} is not set; the admin API stays disabled`)
  }
  if (!config.admin.tokenEnv) warnings.push('admin.tokenEnv is not set; the admin API stays disabled')
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (upstream.tls.insecure) warnings.push(`upstreams.${name}.tls.insecure: upstream certificates are not verified`)
  }
  return warnings
}

/** Validates config text; relative paths resolve against the folder of `file`. */
export function parseConfig (text: string, file: string): LoadedConfig {
  const { doc, lines, problems } = parseYaml(text, file)
  if (problems.length > 0) throw new ConfigError(problems)
  const value = documentValue(doc, file, problems, lines)
  if (problems.length > 0) throw new ConfigError(problems)
  const result = configSchema.safeParse(value)
  if (!result.success) throw new ConfigError(schemaProblems(result.error.issues, doc, lines, file))
  const config = result.data
  const positioned = (found: Array<[PropertyKey[], string]>): Problem[] => found.map(([path, message]) => ({ file, ...locate(doc, lines, path), path: pathText(path), message }))
  const crossProblems = positioned(crossCheck(config))
  if (crossProblems.length > 0) throw new ConfigError(crossProblems)
  const loaded = resolvePaths({ ...config, source: file }, dirname(resolve(file)))
  const missing = positioned(fileProblems(loaded))
  if (missing.length > 0) throw new ConfigError(missing)
  if (!loaded.policies) return loaded
  return { ...loaded, compiledPolicy: loadPolicy(loaded.policies) } // throws ConfigError naming the policy file's lines
}

/** Rules that span several keys: services name existing upstreams, secrets are present in the environment. */
function crossCheck (config: Config): Array<[PropertyKey[], string]> {
  const found: Array<[PropertyKey[], string]> = []
  for (const name of SERVICE_NAMES) {
    const service = config.services[name]
    if (service && !config.upstreams[service.upstream]) {
      found.push([['services', name, 'upstream'], `no upstream named "${service.upstream}" (have: ${Object.keys(config.upstreams).join(', ') || 'none'})`])
    }
  }
  if (config.ens.enabled && config.ens.ews && !config.upstreams[config.ens.ews.upstream]) {
    found.push([['ens', 'ews', 'upstream'], `no upstream named "${config.ens.ews.upstream}"`])
  }
  if (config.ens.enabled) {
    if (!config.ens.ews) found.push([['ens'], 'ens.ews.upstream is required when ENS is enabled'])
    if (!config.ens.push.apns && !config.ens.push.fcm && !config.ens.push.webhook) found.push([['ens', 'push'], 'configure at least one push provider (apns, fcm or webhook)'])
    if (config.store.type === 'redis' && !config.ens.masterKeyEnv) found.push([['ens', 'masterKeyEnv'], 'required on the Redis store: private keys are stored wrapped with it'])
  }
  const protection = config.protection
  if (protection) {
    if (config.store.type === 'redis' && !protection.keyEnv) found.push([['protection', 'keyEnv'], 'required on the Redis store: every gateway must fingerprint credentials with the same key'])
    const threshold = protection.directory.lockoutThreshold
    const limits = limitsOf(protection)
    for (const traffic of ['unfamiliar', 'familiar'] as const) {
      if (limits[traffic] >= threshold) found.push([['protection', 'users', `${traffic}Limit`], `must stay below the directory's lockoutThreshold (${threshold}), or the directory locks first`])
    }
  }
  return found
}

function resolvePaths (config: LoadedConfig, base: string): LoadedConfig {
  const at = (p: string): string => resolve(base, p)
  if (config.listen.tls) config.listen.tls = { cert: at(config.listen.tls.cert), key: at(config.listen.tls.key) }
  for (const upstream of Object.values(config.upstreams)) {
    if (upstream.tls.caFile) upstream.tls.caFile = at(upstream.tls.caFile)
  }
  if (config.policies) config.policies = at(config.policies)
  if (config.ens.push.apns) config.ens.push.apns = { ...config.ens.push.apns, keyFile: at(config.ens.push.apns.keyFile), ...(config.ens.push.apns.caFile ? { caFile: at(config.ens.push.apns.caFile) } : {}) }
  if (config.ens.push.fcm) config.ens.push.fcm = { ...config.ens.push.fcm, serviceAccountFile: at(config.ens.push.fcm.serviceAccountFile) }
  return config
}
