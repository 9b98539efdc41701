import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import { ConfigError, formatProblem } from '../config/problems.js'
import type { Logger } from '../observability/log.js'
import type { Metrics } from '../observability/metrics.js'
import { loadPolicy, type LoadedPolicy } from './load-policy.js'
import type { CompiledPolicy } from '../../policies/compile.js'

export type ReloadResult = { ok: true, rules: number } | { ok: false, problems: string[] }

/**
 * The policy in force, swapped atomically on reload. A file that fails to parse or validate leaves
 * the previous policy running (and says where it failed); reloads come from file changes (watched,
 * debounced), SIGHUP and the admin API.
 */
export class PolicyHolder {
  current: CompiledPolicy
  readonly #file: string
  readonly #log: Logger
  readonly #metrics: Metrics
  #watchers: FSWatcher[] = []
  #timer: NodeJS.Timeout | undefined

  /**
   * Takes the policy `loadConfig` compiled (read once at start), or loads it; throws ConfigError at
   * startup, when there is nothing to fall back to.
   */
  constructor (file: string, log: Logger, metrics: Metrics, compiled?: LoadedPolicy) {
    this.#file = file
    this.#log = log
    this.#metrics = metrics
    const loaded = compiled ?? loadPolicy(file)
    this.current = loaded.policy
    this.#watch(loaded.files)
  }

  reload (trigger: string): ReloadResult {
    try {
      const loaded = loadPolicy(this.#file)
      this.current = loaded.policy
      this.#watch(loaded.files)
      this.#metrics.policyReloads.inc({ result: 'success' })
      this.#log.info({ trigger, rules: loaded.policy.rules.length, file: this.#file }, 'policy reloaded')
      return { ok: true, rules: loaded.policy.rules.length }
    } catch (err) {
      // No failure of a reload escapes (it may run from a timer or a signal handler): each one is a
      // positioned problem, and the previous policy stays in force.
      const problems = err instanceof ConfigError ? err.problems.map(formatProblem) : [`${this.#file}:1:1: ${(err as Error).message}`]
      this.#metrics.policyReloads.inc({ result: 'failure' })
      for (const problem of problems) this.#log.error({ trigger, problem }, 'policy reload failed; the previous policy stays in force')
      return { ok: false, problems }
    }
  }

  /**
   * Watches the folders of the policy's files, not the files: an editor's atomic save renames a new
   * file over the old one, and a watch on the old file would never fire again.
   */
  #watch (files: string[]): void {
    for (const w of this.#watchers) w.close()
    const byFolder = new Map<string, Set<string>>()
    for (const file of files) {
      const names = byFolder.get(dirname(file)) ?? new Set<string>()
      names.add(basename(file))
      byFolder.set(dirname(file), names)
    }
    this.#watchers = [...byFolder].map(([folder, names]) => {
      const watcher = watch(folder, { persistent: false }, (_event, name) => {
        if (name === null || names.has(String(name))) this.#scheduleReload()
      })
      watcher.on('error', () => this.#scheduleReload())
      return watcher
    })
  }

  #scheduleReload (): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.reload('file change'), 300)
    this.#timer.unref()
  }

  close (): void {
    clearTimeout(this.#timer)
    for (const w of this.#watchers) w.close()
  }
}
