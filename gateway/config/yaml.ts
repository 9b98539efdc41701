import { isCollection, LineCounter, parseDocument, visit, type Document } from 'yaml'
import type { z } from 'zod'
import { locate, pathText, type Problem } from './problems.js'

/** Parses YAML text into a document, turning syntax errors into problems with positions. */
export function parseYaml (text: string, file: string): { doc: Document, lines: LineCounter, problems: Problem[] } {
  const lines = new LineCounter()
  let doc: Document
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  } catch (err) {
    // The yaml parser recurses per nesting level: thousands of levels overflow the stack (found by the fuzzer).
    const message = err instanceof RangeError ? 'nested too deeply' : (err as Error).message
    return { doc: parseDocument(''), lines, problems: [{ file, line: 1, col: 1, path: '', message }] }
  }
  const problems = doc.errors.map(err => {
    const pos = lines.linePos(err.pos[0])
    return { file, line: pos.line, col: pos.col, path: '', message: err.message.split('\n')[0] ?? err.message }
  })
  return { doc, lines, problems }
}

/** Turns zod issues into positioned problems (unknown keys point at the key, the rest at the value). */
export function schemaProblems (issues: z.core.$ZodIssue[], doc: Document, lines: LineCounter, file: string): Problem[] {
  const problems: Problem[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key]
        problems.push({ file, ...locate(doc, lines, path, true), path: pathText(path), message: 'unknown key' })
      }
      continue
    }
    problems.push({ file, ...locate(doc, lines, issue.path), path: pathText(issue.path), message: issue.message })
  }
  return problems
}

/**
 * The document's value. Turning a document into values can fail on input that parsed: more alias
 * references than the yaml library allows (100, its guard against alias bombs) throws. That becomes a
 * problem at the document's start instead of an exception.
 */
export function documentValue (doc: Document, file: string, problems: Problem[], lines?: LineCounter): unknown {
  // A mapping key that is itself a mapping or a list has no meaning here (the yaml library would
  // stringify it with a process warning): refused with its position.
  let collectionKey = false
  visit(doc, {
    Pair (_key, pair) {
      if (collectionKey || !isCollection(pair.key)) return
      collectionKey = true
      const pos = lines && pair.key.range ? lines.linePos(pair.key.range[0]) : { line: 1, col: 1 }
      problems.push({ file, line: pos.line, col: pos.col, path: '', message: 'a mapping key must be a plain value, not a mapping or a list' })
    }
  })
  if (collectionKey) return undefined
  try {
    return doc.toJS() ?? {}
  } catch (err) {
    const message = /alias/i.test((err as Error).message) ? 'more than 100 alias references (YAML anchors used too often)' : (err as Error).message
    problems.push({ file, line: 1, col: 1, path: '', message })
    return undefined
  }
}
