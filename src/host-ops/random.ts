// SPDX-License-Identifier: MIT
/**
 * random.ts - the entropy family: random bytes, the kernel's seed source.
 *
 * Unseeded, the bytes come from Web Crypto (crypto.getRandomValues, the same in
 * Node and in browsers). With a seed they come from xoshiro128** started from the
 * seed: the same seed gives the same stream on every run, which is what a
 * reproducible run needs. That generator is not cryptographic, and the op tells
 * the kernel so by returning 1 (host-ops.h).
 *
 * Limits: seeds are mixed into 128 bits of state, not hashed cryptographically:
 * two different seeds may, very rarely, give the same stream.
 */
import type { HostContext, Ptr } from './context.js'

/** A seed for reproducible runs: equal seeds (1 and 1n included) give equal streams. */
export type RandomSeed = number | bigint | Uint8Array

export interface RandomOps {
  random(buf: Ptr<'void'>, len: number): number
}

/** crypto.getRandomValues fills at most this many bytes per call. */
const WEB_CRYPTO_MAX_BYTES = 65536

/** murmur3's finalizer: a bijection of 32-bit words that spreads every input bit. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** The seed as bytes, tagged by kind so that an integer and a byte string never coincide. */
function seedBytes(seed: RandomSeed): Uint8Array {
  if (seed instanceof Uint8Array) {
    const tagged = new Uint8Array(seed.length + 1)
    tagged[0] = 1
    tagged.set(seed, 1)
    return tagged
  }
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new TypeError(`a random seed must be a safe integer, a bigint or a Uint8Array, not ${seed}`)
  }
  const value = BigInt(seed)
  const digits = (value < 0n ? -value : value).toString(16)
  return new TextEncoder().encode(`${value < 0n ? 2 : 0}${digits}`)
}

/** xoshiro128** (Blackman and Vigna), seeded from arbitrary bytes. */
export class SeededRandom {
  #s0: number
  #s1: number
  #s2: number
  #s3: number

  constructor(seed: RandomSeed) {
    const bytes = seedBytes(seed)
    const lanes = [0, 1, 2, 3].map((lane) => {
      let acc = mix32(Math.imul(lane, 0x9e3779b9) + bytes.length)
      for (const byte of bytes) acc = mix32(acc ^ (byte + 0x100 * lane))
      return acc
    })
    const [s0 = 0, s1 = 0, s2 = 0, s3 = 0] = lanes
    // The all-zero state is xoshiro's one fixed point.
    this.#s0 = (s0 | s1 | s2 | s3) === 0 ? 1 : s0
    this.#s1 = s1
    this.#s2 = s2
    this.#s3 = s3
  }

  /** The next 32-bit word of the stream. */
  next(): number {
    const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k))
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0
    const t = this.#s1 << 9
    this.#s2 ^= this.#s0
    this.#s3 ^= this.#s1
    this.#s1 ^= this.#s2
    this.#s0 ^= this.#s3
    this.#s2 ^= t
    this.#s3 = rotl(this.#s3, 11)
    return result
  }

  fill(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i += 4) {
      const word = this.next()
      for (let j = 0; j < 4 && i + j < bytes.length; j++) bytes[i + j] = word >>> (8 * j)
    }
  }
}

/** The family; with a seed, every instance made with it gives the same stream. */
export function randomOps(ctx: HostContext, seed?: RandomSeed): RandomOps {
  const seeded = seed === undefined ? null : new SeededRandom(seed)
  return {
    random(buf, len) {
      const size = len >>> 0
      ctx.checkRange('random', buf >>> 0, size)
      const bytes = ctx.bytes().subarray(buf >>> 0, (buf >>> 0) + size)
      if (seeded !== null) {
        seeded.fill(bytes)
        return 1
      }
      for (let offset = 0; offset < size; offset += WEB_CRYPTO_MAX_BYTES) {
        crypto.getRandomValues(bytes.subarray(offset, offset + WEB_CRYPTO_MAX_BYTES))
      }
      return 0
    },
  }
}
