// SPDX-License-Identifier: MIT
/**
 * heap.ts - the allocator of a wasm instance's free memory, with real free.
 *
 * Everything above the module's __heap_base belongs to this heap: fiber stacks,
 * asyncify buffers, and the host ops mem_alloc/page_alloc (the kernel's RAM among
 * them). The blocks are a FreeList (free-list.ts: first fit, coalescing, kept in
 * JS); the memory grows when nothing fits.
 *
 * Limits: those of FreeList; the memory never shrinks.
 */

import { FreeList, type FreeListState, alignUp } from './free-list.js'

const WASM_PAGE = 65536

/** A heap's bookkeeping as plain data. */
export interface HeapState {
  readonly blocks: FreeListState
  readonly peakBytes: number
  /** The memory's size when it was saved. */
  readonly memoryBytes: number
}
const MIN_ALIGN = 16

export class Heap {
  readonly #memory: WebAssembly.Memory
  readonly #blocks = new FreeList(MIN_ALIGN)
  #peakBytes = 0

  constructor(memory: WebAssembly.Memory, base: number) {
    this.#memory = memory
    const start = alignUp(base, MIN_ALIGN)
    const end = memory.buffer.byteLength
    if (end > start) this.#blocks.add(start, end - start)
  }

  /** size bytes aligned to align (a power of two, at least 16); 0 when memory cannot grow. */
  alloc(size: number, align = MIN_ALIGN): number {
    for (;;) {
      const block = this.#blocks.take(size, align)
      if (block !== 0) {
        this.#peakBytes = Math.max(this.#peakBytes, this.#blocks.usedBytes)
        return block
      }
      if (!this.#grow(this.#blocks.roundSize(size) + Math.max(align, MIN_ALIGN))) return 0
    }
  }

  /** Free a block from alloc; returns its size, or -1 if addr is not a live block. */
  free(addr: number): number {
    return this.#blocks.release(addr)
  }

  /** The size of the live block at addr, or undefined. */
  sizeOf(addr: number): number | undefined {
    return this.#blocks.sizeOf(addr)
  }

  /** The live blocks, [address, size], in no particular order. */
  blocks(): IterableIterator<[number, number]> {
    return this.#blocks.blocks()
  }

  /** The bookkeeping, for load() in the heap of another instance of the module. */
  save(): HeapState {
    return { blocks: this.#blocks.save(), peakBytes: this.#peakBytes, memoryBytes: this.#memory.buffer.byteLength }
  }

  /** Take over a heap's save(): the memory grows to its size first (or keeps what it has beyond, free). */
  load(state: HeapState): void {
    const missing = state.memoryBytes - this.#memory.buffer.byteLength
    if (missing > 0) this.#memory.grow(missing / WASM_PAGE)
    this.#blocks.load(state.blocks)
    // A memory that another instance grew further: the rest is free.
    if (missing < 0) this.#blocks.add(state.memoryBytes, -missing)
    this.#peakBytes = state.peakBytes
  }

  get stats(): { usedBytes: number, peakBytes: number, liveBlocks: number, memoryBytes: number } {
    return {
      usedBytes: this.#blocks.usedBytes,
      peakBytes: this.#peakBytes,
      liveBlocks: this.#blocks.liveBlocks,
      memoryBytes: this.#memory.buffer.byteLength,
    }
  }

  #grow(bytes: number): boolean {
    const oldEnd = this.#memory.buffer.byteLength
    try {
      this.#memory.grow(Math.ceil(bytes / WASM_PAGE))
    } catch {
      return false // beyond the module's maximum, or the engine's
    }
    this.#blocks.add(oldEnd, this.#memory.buffer.byteLength - oldEnd)
    return true
  }
}
