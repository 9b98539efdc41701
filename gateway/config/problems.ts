import { isMap, isSeq, LineCounter, type Document, type Node } from 'yaml'
import { GatewayError } from '../errors/catalogue.js'

/** One thing wrong with a config or policy file, printed as `file:line:col: key.path: message`. */
export interface Problem {
  file: string
  line: number
  col: number
  path: string
  message: string
}

export function formatProblem (p: Problem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path || '(root)'}: ${p.message}`
}

/** Thrown when a file cannot be used; carries every problem found, not just the first. */
export class ConfigError extends GatewayError {
  readonly problems: Problem[]
  constructor (problems: Problem[]) {
    super('GW_CONFIG_INVALID', problems.map(formatProblem).join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/**
 * Finds where a key path sits in a parsed YAML document, so a problem found by the schema can name
 * the line. `atKey` points at the key itself (for unknown keys); otherwise at the value. A path that
 * does not exist (a missing key) resolves to its deepest existing ancestor.
 */
export function locate (doc: Document, lines: LineCounter, path: readonly PropertyKey[], atKey = false): { line: number, col: number } {
  let node: unknown = doc.contents
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(item => String((item.key as { value?: unknown } | null)?.value ?? item.key) === String(segment))
      if (!pair) break
      const keyNode = pair.key as Node | null
      const valueNode = pair.value as Node | null
      offset = (atKey && segment === path[path.length - 1] ? keyNode?.range?.[0] : valueNode?.range?.[0] ?? keyNode?.range?.[0]) ?? offset
      node = valueNode
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined
      if (!item) break
      offset = item.range?.[0] ?? offset
      node = item
    } else {
      break
    }
  }
  const pos = lines.linePos(offset)
  return { line: pos.line, col: pos.col }
}

export function pathText (path: readonly PropertyKey[]): string {
  return path.map(String).join('.')
}
