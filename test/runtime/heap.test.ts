// SPDX-License-Identifier: MIT
/*
 * The heap (src/sched/heap.ts) gives memory back: a freed block is handed out
 * again, neighbours coalesce, and a runtime that creates and joins threads over
 * and over stops growing its memory once the first round has paid for it.
 */
import { beforeAll, describe, expect, it } from 'vitest'
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
