// SPDX-License-Identifier: MIT
// The user arena's allocator: blocks come back for reuse and coalesce, nothing outside the arena is
// handed out or copied, and a request that does not fit is a RangeError saying why.
import { describe, expect, it } from 'vitest'
import { UserArena } from '../src/host-ops/user-memory.js'

const PAGE = 4096

/** An arena of pages pages, at one page into a fresh memory. */
function arena(pages: number): UserArena {
  const memory = new WebAssembly.Memory({ initial: 1 + Math.ceil((pages * PAGE) / 65536) })
  const reserved = UserArena.reserve({ alloc: (size, align) => (size === pages * PAGE && align === PAGE ? PAGE : 0) }, memory, pages * PAGE)
  if (reserved === null) throw new Error('the fake source refused the arena')
  return reserved
}

describe('the user arena', () => {
  it('hands out aligned blocks inside itself, and takes freed ones back', () => {
    const a = arena(4)
    const first = a.alloc(100)
    const second = a.alloc(5000, 64)
    expect(first).toBeGreaterThanOrEqual(a.start)
    expect(second % 64).toBe(0)
    expect(second + 5000).toBeLessThanOrEqual(a.end)
    a.free(first)
    expect(a.alloc(100), 'a freed block is reused').toBe(first)
    a.free(first)
    a.free(second)
    expect(a.stats).toEqual({ usedBytes: 0, liveBlocks: 0, size: 4 * PAGE })
    // Freed neighbours coalesce: the whole arena fits in one block again.
    expect(a.alloc(4 * PAGE)).toBe(a.start)
  })

  it('a request larger than the arena is a RangeError naming the option', () => {
    expect(() => arena(1).alloc(PAGE + 1)).toThrow(/do not fit in the 4096-byte user arena.*userMemoryMiB/)
  })

  it('a request the calls in flight leave no room for is a RangeError saying so', () => {
    const a = arena(2)
    a.alloc(PAGE)
    expect(() => a.alloc(PAGE + 8)).toThrow(/calls in flight hold 4096 of its 8192 bytes/)
  })

  it('freeing twice, or copying outside the arena, fails instead of corrupting it', () => {
    const a = arena(1)
    const block = a.alloc(16)
    a.free(block)
    expect(() => a.free(block)).toThrow(/not a live block/)
    expect(() => a.write(a.end - 8, new Uint8Array(16))).toThrow(RangeError)
    expect(() => a.read(a.start - 1, new Uint8Array(4))).toThrow(RangeError)
    a.write(a.start, Uint8Array.of(1, 2, 3))
    const back = new Uint8Array(3)
    a.read(a.start, back)
    expect([...back]).toEqual([1, 2, 3])
  })

  it('a size that is not a positive integer is a RangeError', () => {
    const memory = new WebAssembly.Memory({ initial: 1 })
    expect(() => UserArena.reserve({ alloc: () => PAGE }, memory, 0)).toThrow(RangeError)
    expect(() => UserArena.reserve({ alloc: () => PAGE }, memory, 1.5)).toThrow(RangeError)
  })
})
