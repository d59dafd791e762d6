// SPDX-License-Identifier: MIT
/**
 * prng.ts - the fuzzer's seeded random numbers: a counter-based generator, so the
 * numbers of call i depend only on (seed, i) and any call can be regenerated on
 * its own for a replay.
 *
 * Each draw hashes (seed, stream, counter) with a 32-bit avalanche mix (the
 * finalizer shape of MurmurHash3). Good enough to spread choices evenly; not for
 * cryptography.
 */

/** A 32-bit avalanche mix: every input bit flips about half the output bits. */
function mix32(value: number): number {
  let h = value >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35)
  return (h ^ (h >>> 16)) >>> 0
}

export class Prng {
  readonly #key: number
  #counter = 0

  /** The generator of stream (e.g. a call index) under seed; both are taken as 32-bit integers. */
  constructor(seed: number, stream = 0) {
    // Golden-ratio steps keep (seed, stream) pairs from colliding on small inputs.
    this.#key = mix32(mix32(seed ^ 0x9e37_79b9) ^ Math.imul(stream + 1, 0x9e37_79b9))
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.#counter++
    return mix32(this.#key ^ mix32(Math.imul(this.#counter, 0x2545_f491)))
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    if (!(n > 0)) throw new RangeError(`below(${n}): n must be positive`)
    return Math.floor((this.next() / 2 ** 32) * n)
  }

  /** A uniform integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.below(high - low + 1)
  }

  chance(probability: number): boolean {
    return this.next() / 2 ** 32 < probability
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)]
    if (item === undefined) throw new RangeError('pick from an empty list')
    return item
  }

  /** A key of weights, chosen with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][]
    let ticket = (this.next() / 2 ** 32) * entries.reduce((sum, [, w]) => sum + w, 0)
    for (const [key, weight] of entries) {
      ticket -= weight
      if (ticket < 0) return key
    }
    const last = entries[entries.length - 1]
    if (last === undefined) throw new RangeError('weighted choice from no weights')
    return last[0]
  }

  /** A uniform 64-bit unsigned integer. */
  next64(): bigint {
    return (BigInt(this.next()) << 32n) | BigInt(this.next())
  }
}
