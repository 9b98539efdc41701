// `npm run fuzz`: FUZZ_CASES (default 1,000,000) seeded cases of every target, FUZZ_SEED to vary them,
// FUZZ_ONLY to pick targets by name. Prints a table for the README; exits 1 on any failure.
import { runTarget } from './run-target.js'
import { TARGETS } from './targets.js'

const cases = Number(process.env.FUZZ_CASES ?? 1_000_000)
const seed = Number(process.env.FUZZ_SEED ?? 1)
const only = process.env.FUZZ_ONLY
let failed = false
process.stdout.write('| target | cases | failures | cases/s | slowest input |\n|---|---:|---:|---:|---:|\n')
for (const target of TARGETS.filter(t => !only || t.name.includes(only))) {
  const result = runTarget(target, cases, seed)
  failed ||= result.failures.length > 0
  process.stdout.write(`| ${result.target} | ${result.cases.toLocaleString('en')} | ${result.failures.length} | ${Math.round(result.cases / result.seconds).toLocaleString('en')} | ${result.slowestMs.toFixed(1)} ms |\n`)
  for (const failure of result.failures) process.stderr.write(`  ${failure.error}\n    input (base64): ${failure.input}\n`)
}
process.exitCode = failed ? 1 : 0
