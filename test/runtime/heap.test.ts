// SPDX-License-Identifier: MIT
/*
 * The heap (src/sched/heap.ts) gives memory back: a freed block is handed out
 * again, neighbours coalesce, and a runtime that creates and joins threads over
 * and over stops growing its memory once the first round has paid for it. Under
 * it, the free list (src/sched/free-list.ts) hands out exactly the block a byte
 * map of the range says first fit gives, over random programs of takes and releases.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { FreeList } from '../../src/sched/free-list.js'
import { Heap } from '../../src/sched/heap.js'
import { loadFixture, prepareFixture } from '../support/fixture.js'

const WASM_PAGE = 65536
/** Where the managed memory starts in these tests: any address past the first few bytes. */
const HEAP_BASE = 1024
/** Instantiate the prebuilt threads fixture and run two rounds of 200 threads. */
const THREADS_BUDGET_MS = 20_000

/** A heap over a fresh memory of pages pages that may grow to maxPages. */
function freshHeap(pages: number, maxPages: number): { heap: Heap, memory: WebAssembly.Memory } {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: maxPages })
  return { heap: new Heap(memory, HEAP_BASE), memory }
}

describe('heap', () => {
  beforeAll(() => prepareFixture('threads'))

  it('a freed block is handed out again to the next request of its size', () => {
    const { heap } = freshHeap(1, 1)
    const first = heap.alloc(4096)
    expect(first).not.toBe(0)
    expect(heap.free(first), 'free returns the size it gave back').toBe(4096)
    expect(heap.alloc(4096), 'the freed block was not reused').toBe(first)
  })

  it('two freed neighbours coalesce into one block that fits a request of their joint size', () => {
    const { heap } = freshHeap(1, 1)
    const a = heap.alloc(1024)
    const b = heap.alloc(1024)
    const guard = heap.alloc(1024)
    expect(b).toBe(a + 1024)
    heap.free(a)
    heap.free(b)
    expect(heap.alloc(2048), 'the two freed neighbours did not merge').toBe(a)
    expect(heap.sizeOf(guard)).toBe(1024)
  })

  it('alloc/free cycles of a third of the memory never grow it', () => {
    const { heap, memory } = freshHeap(3, 3)
    for (let i = 0; i < 100; i++) {
      const block = heap.alloc(WASM_PAGE)
      expect(block, `cycle ${i}: no room, so free gave nothing back`).not.toBe(0)
      heap.free(block)
    }
    expect(memory.buffer.byteLength).toBe(3 * WASM_PAGE)
    expect(heap.stats).toMatchObject({ usedBytes: 0, liveBlocks: 0 })
  })

  it('a second free of a block, or a free of an address it never gave, returns -1', () => {
    const { heap } = freshHeap(1, 1)
    const block = heap.alloc(64)
    expect(heap.free(block)).toBe(64)
    expect(heap.free(block)).toBe(-1)
    expect(heap.free(block + 16)).toBe(-1)
  })

  it('grows the memory when nothing fits, and returns 0 when it cannot grow', () => {
    const { heap, memory } = freshHeap(1, 4)
    const big = heap.alloc(WASM_PAGE)
    expect(big, 'did not grow for a block larger than what was free').not.toBe(0)
    expect(memory.buffer.byteLength).toBeGreaterThan(WASM_PAGE)
    expect(heap.alloc(4 * WASM_PAGE), 'handed out a block beyond the maximum').toBe(0)
    expect(heap.sizeOf(big), 'the failed request disturbed a live block').toBe(WASM_PAGE)
  })

  it('the stacks of exited threads serve the next threads: a second round of 200 does not grow memory', async () => {
    await using fx = await loadFixture('threads')
    expect(await fx.run('many_threads', 200), fx.console()).toBe(0)
    const afterFirstRound = fx.runtime.sched.heap.stats.memoryBytes
    expect(await fx.run('many_threads', 200), fx.console()).toBe(0)
    expect(fx.runtime.sched.heap.stats.memoryBytes, 'memory grew: exited threads gave nothing back').toBe(afterFirstRound)
  }, THREADS_BUDGET_MS)
})

describe('free list', () => {
  const BASE = 64
  const SIZE = 1024
  const MIN_ALIGN = 8
  /** take(size, align) or release(the i-th live block, modulo their number). */
  const op = fc.oneof(
    fc.record({ take: fc.integer({ min: 1, max: 300 }), align: fc.constantFrom(1, 8, 16, 64, 256) }),
    fc.record({ release: fc.nat() }),
  )

  /** The lowest start, aligned, with size free bytes from it: first fit over ranges that coalesce. */
  function firstFit(used: readonly boolean[], size: number, align: number): number {
    for (let start = Math.ceil(BASE / align) * align; start + size <= BASE + SIZE; start += align) {
      if (used.slice(start - BASE, start - BASE + size).every((u) => !u)) return start
    }
    return 0
  }

  it('hands out the block first fit gives, never overlapping, and gets every byte back', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const list = new FreeList(MIN_ALIGN)
      list.add(BASE, SIZE)
      const used: boolean[] = Array.from({ length: SIZE }, () => false)
      const live: [number, number][] = []
      for (const o of ops) {
        if ('take' in o) {
          const want = list.roundSize(o.take)
          const expected = firstFit(used, want, Math.max(o.align, MIN_ALIGN))
          expect(list.take(o.take, o.align)).toBe(expected)
          if (expected === 0) continue
          used.fill(true, expected - BASE, expected - BASE + want)
          live.push([expected, want])
        } else if (live.length > 0) {
          const [[addr, size] = [0, 0]] = live.splice(o.release % live.length, 1)
          expect(list.release(addr)).toBe(size)
          used.fill(false, addr - BASE, addr - BASE + size)
        }
        expect(list.usedBytes).toBe(used.filter((u) => u).length)
      }
      for (const [addr] of live) list.release(addr)
      // Everything coalesced back into the one range: the whole of it fits again.
      expect(list.take(SIZE, MIN_ALIGN)).toBe(BASE)
    }), { seed: 9, numRuns: 300 })
  })
})
