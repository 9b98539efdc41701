// Seeded, bounded fuzzing of every parser that reads what an unauthenticated client or a broken
// upstream sends (`npm run fuzz` runs a million cases of each: README, "Security").
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runTarget } from './run-target.js'
import { TARGETS } from './targets.js'

/** Cases per target here: the whole file stays well under a minute on this machine. */
const CASES: Record<string, number> = { 'policy file loader': 1500, 'SOAP/XML parse (SendNotification, operations)': 3000 }

for (const target of TARGETS) {
  test(`fuzz: ${target.name}`, () => {
    const heapBefore = process.memoryUsage().heapUsed
    const result = runTarget(target, CASES[target.name] ?? 8000, 20261204)
    assert.deepEqual(result.failures, [], `${target.name}: inputs that broke it`)
    // Hang and blow-up detectors with a wide margin (catastrophic inputs took seconds to minutes).
    assert.ok(result.slowestMs < 2000, `${target.name}: one input took ${result.slowestMs.toFixed(0)} ms`)
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 512 * 1024 * 1024, `${target.name}: heap grew past 512 MB`)
  })
}
