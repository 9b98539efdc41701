/** A seeded PRNG (mulberry32): the same seed gives the same cases, so a failure can be replayed. */
export function random (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * A mutation of one of `seeds`: a few random byte flips, insertions of random or "interesting" bytes,
 * deletions, duplications of a range (which makes nesting and repetition) and splices with another
 * seed. Inputs stay under `maxBytes`.
 */
export function mutate (seeds: readonly Buffer[], rand: () => number, interesting: readonly Buffer[] = [], maxBytes = 65_536): Buffer {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T
  let data = Buffer.from(pick(seeds))
  const rounds = 1 + Math.floor(rand() * 6)
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(rand() * (data.length + 1))
    switch (Math.floor(rand() * 7)) {
      case 0: if (data.length > 0) data[Math.min(at, data.length - 1)] = Math.floor(rand() * 256); break
      case 1: data = Buffer.concat([data.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256))), data.subarray(at)]); break
      case 2: data = Buffer.concat([data.subarray(0, at), data.subarray(Math.min(data.length, at + 1 + Math.floor(rand() * 16)))]); break
      case 3: {
        const end = Math.min(data.length, at + 1 + Math.floor(rand() * 64))
        const piece = data.subarray(at, end)
        const times = 1 + Math.floor(rand() * (rand() < 0.1 ? 2000 : 8))
        data = Buffer.concat([data.subarray(0, end), ...Array.from({ length: times }, () => piece), data.subarray(end)])
        break
      }
      case 4: {
        const other = pick(seeds)
        const from = Math.floor(rand() * (other.length + 1))
        data = Buffer.concat([data.subarray(0, at), other.subarray(from)])
        break
      }
      case 5: if (interesting.length > 0) data = Buffer.concat([data.subarray(0, at), pick(interesting), data.subarray(at)]); break
      default: data = data.subarray(0, at)
    }
    if (data.length > maxBytes) data = data.subarray(0, maxBytes)
  }
  return data
}
