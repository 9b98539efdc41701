import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError, locate, type Problem } from '../config/problems.js'
import { documentValue, parseYaml, schemaProblems } from '../config/yaml.js'
import { CompiledPolicy, compileMatch } from '../../policies/compile.js'
import { PatternError } from '../../policies/matchers.js'
import { policyFileSchema, ruleSchema, type Rule } from '../../policies/schema.js'

/** A loaded policy and the files it came from (the hot reload watches them all). */
export interface LoadedPolicy {
  policy: CompiledPolicy
  files: string[]
}

/**
 * Loads a policy file and its includes (relative to the including file; included rules come first,
 * in include order). Every problem in every file is reported with its position; nothing is compiled
 * unless all files are valid.
 */
export function loadPolicy (file: string): LoadedPolicy {
  const problems: Problem[] = []
  const files: string[] = []
  const rules = collect(resolve(file), [], problems, files)
  const names = new Map<string, string>()
  for (const { rule, file: from } of rules) {
    const earlier = names.get(rule.name)
    if (earlier) problems.push({ file: from, line: 1, col: 1, path: `rules.${rule.name}`, message: `rule name already used in ${earlier}` })
    names.set(rule.name, from)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return { policy: new CompiledPolicy(rules.map(r => r.rule), readTopDefault(resolve(file)) ?? 'allow'), files }
}

function readTopDefault (file: string): 'allow' | 'block' | 'quarantine' | undefined {
  const { doc } = parseYaml(readFileSync(file, 'utf8'), file)
  return policyFileSchema.parse(documentValue(doc, file, [])).default
}

function collect (file: string, stack: string[], problems: Problem[], files: string[]): Array<{ rule: Rule, file: string }> {
  if (stack.includes(file)) {
    problems.push({ file: stack[stack.length - 1] ?? file, line: 1, col: 1, path: 'include', message: `include cycle through ${file}` })
    return []
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    problems.push({ file, line: 1, col: 1, path: '', message: `cannot read: ${(err as Error).message}` })
    return []
  }
  files.push(file)
  const { doc, lines, problems: syntax } = parseYaml(text, file)
  if (syntax.length > 0) {
    problems.push(...syntax)
    return []
  }
  const value = documentValue(doc, file, problems, lines)
  if (value === undefined) return []
  const parsed = policyFileSchema.safeParse(value)
  if (!parsed.success) {
    problems.push(...schemaProblems(parsed.error.issues, doc, lines, file))
    return []
  }
  const out: Array<{ rule: Rule, file: string }> = []
  for (const include of parsed.data.include) {
    out.push(...collect(resolve(dirname(file), include), [...stack, file], problems, files))
  }
  parsed.data.rules.forEach((raw, i) => {
    const result = ruleSchema.safeParse(raw)
    if (!result.success) {
      const issues = result.error.issues.map(issue => ({ ...issue, path: ['rules', i, ...issue.path] }))
      problems.push(...schemaProblems(issues, doc, lines, file))
      return
    }
    const rule = result.data
    try {
      compileMatch(rule.match)
      out.push({ rule, file })
    } catch (err) {
      if (!(err instanceof PatternError)) throw err
      problems.push({ file, ...locate(doc, lines, ['rules', i, 'match']), path: `rules.${i}.match`, message: err.message })
    }
  })
  return out
}
