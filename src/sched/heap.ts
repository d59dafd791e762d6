// SPDX-License-Identifier: MIT
/**
 * heap.ts - the allocator of a wasm instance's free memory, with real free.
 *
 * Everything above the module's __heap_base belongs to this heap: fiber stacks,
 * asyncify buffers, and the host ops mem_alloc/page_alloc (the kernel's RAM among
 * them). Bookkeeping lives in JS, never in the managed memory, so a C buffer overrun
 * cannot corrupt it. First fit over a free list sorted by address, coalescing on
 * free; the memory grows when nothing fits.
 *
 * Limits: O(free ranges) per call, which suits a few thousand live blocks; blocks
 * are never moved.
 */

const WASM_PAGE = 65536
const MIN_ALIGN = 16

interface Range {
  addr: number
  size: number
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align
}

export class Heap {
  readonly #memory: WebAssembly.Memory
  /** Free ranges, sorted by address, never adjacent (they coalesce). */
  readonly #free: Range[] = []
  readonly #used = new Map<number, number>()
  #usedBytes = 0
  #peakBytes = 0

  constructor(memory: WebAssembly.Memory, base: number) {
    this.#memory = memory
    const start = alignUp(base, MIN_ALIGN)
    const end = memory.buffer.byteLength
    if (end > start) this.#free.push({ addr: start, size: end - start })
  }

  /** size bytes aligned to align (a power of two, at least 16); 0 when memory cannot grow. */
  alloc(size: number, align = MIN_ALIGN): number {
    const want = alignUp(Math.max(size, 1), MIN_ALIGN)
    align = Math.max(align, MIN_ALIGN)
    for (;;) {
      for (let i = 0; i < this.#free.length; i++) {
        const range = this.#free[i]!
        const start = alignUp(range.addr, align)
        if (start + want > range.addr + range.size) continue
        const before: Range = { addr: range.addr, size: start - range.addr }
        const after: Range = { addr: start + want, size: range.addr + range.size - (start + want) }
        this.#free.splice(i, 1, ...[before, after].filter((r) => r.size > 0))
        this.#used.set(start, want)
        this.#usedBytes += want
        this.#peakBytes = Math.max(this.#peakBytes, this.#usedBytes)
        return start
      }
      if (!this.#grow(want + align)) return 0
    }
  }

  /** Free a block from alloc; returns its size, or -1 if addr is not a live block. */
  free(addr: number): number {
    const size = this.#used.get(addr)
    if (size === undefined) return -1
    this.#used.delete(addr)
    this.#usedBytes -= size
    this.#insertFree({ addr, size })
    return size
  }

  /** The size of the live block at addr, or undefined. */
  sizeOf(addr: number): number | undefined {
    return this.#used.get(addr)
  }

  get stats(): { usedBytes: number, peakBytes: number, liveBlocks: number, memoryBytes: number } {
    return {
      usedBytes: this.#usedBytes,
      peakBytes: this.#peakBytes,
      liveBlocks: this.#used.size,
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
    this.#insertFree({ addr: oldEnd, size: this.#memory.buffer.byteLength - oldEnd })
    return true
  }

  #insertFree(range: Range): void {
    const list = this.#free
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (list[mid]!.addr < range.addr) lo = mid + 1
      else hi = mid
    }
    const prev = list[lo - 1]
    const next = list[lo]
    if (prev !== undefined && prev.addr + prev.size === range.addr) {
      prev.size += range.size
      if (next !== undefined && prev.addr + prev.size === next.addr) {
        prev.size += next.size
        list.splice(lo, 1)
      }
    } else if (next !== undefined && range.addr + range.size === next.addr) {
      next.addr = range.addr
      next.size += range.size
    } else {
      list.splice(lo, 0, range)
    }
  }
}
