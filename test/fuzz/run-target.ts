import { mutate, random } from './mutate.js'
import type { FuzzTarget } from './targets.js'

export interface FuzzResult {
  target: string
  cases: number
  /** The first inputs that broke the target, with what went wrong. */
  failures: Array<{ input: string, error: string }>
  /** The slowest single input, in ms (a hang detector, not a speed test). */
  slowestMs: number
  seconds: number
}

/** Runs `cases` seeded mutations through a target; never throws for the target's bugs, it reports them. */
export function runTarget (target: FuzzTarget, cases: number, seed: number): FuzzResult {
  const rand = random(seed)
  const failures: FuzzResult['failures'] = []
  let slowestMs = 0
  const started = performance.now()
  for (let i = 0; i < cases; i++) {
    const input = mutate(target.seeds, rand, target.interesting, target.maxBytes)
    const at = performance.now()
    try {
      target.run(input)
    } catch (err) {
      if (failures.length < 5) failures.push({ input: input.toString('base64').slice(0, 400), error: (err as Error).stack?.split('\n').slice(0, 3).join(' | ') ?? String(err) })
    }
    slowestMs = Math.max(slowestMs, performance.now() - at)
  }
  return { target: target.name, cases, failures, slowestMs, seconds: (performance.now() - started) / 1000 }
}
