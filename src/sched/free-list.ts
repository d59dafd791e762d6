// SPDX-License-Identifier: MIT
/**
 * free-list.ts - blocks of an address range handed out first fit from a free list
 * sorted by address, coalescing on release: the bookkeeping the heap (heap.ts)
 * and the user arena (host-ops/user-memory.ts) share. It lives in JS, never in the
 * memory it manages, so a C buffer overrun cannot corrupt it.
 *
 * Limits: O(free ranges) per call, which suits a few thousand live blocks; blocks
 * are never moved; address 0 is never handed out (both users start above it).
 */

interface Range {
  addr: number
  size: number
}

/** A FreeList's bookkeeping as plain data (a boot snapshot keeps it): [address, size] pairs. */
export interface FreeListState {
  readonly free: readonly (readonly [number, number])[]
  readonly used: readonly (readonly [number, number])[]
}

export function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align
}

export class FreeList {
  /** Free ranges, sorted by address, never adjacent (they coalesce). */
  readonly #free: Range[] = []
  /** Live blocks: address → size. */
  readonly #used = new Map<number, number>()
  #usedBytes = 0

  /** minAlign: every block's size and address are multiples of it (a power of two). */
  constructor(readonly minAlign: number) {}

  get usedBytes(): number {
    return this.#usedBytes
  }

  get liveBlocks(): number {
    return this.#used.size
  }

  /** Make [addr, addr + size) available, merging it with free neighbours. */
  add(addr: number, size: number): void {
    const list = this.#free
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((list[mid]?.addr ?? Infinity) < addr) lo = mid + 1
      else hi = mid
    }
    const prev = list[lo - 1]
    const next = list[lo]
    if (prev !== undefined && prev.addr + prev.size === addr) {
      prev.size += size
      if (next !== undefined && prev.addr + prev.size === next.addr) {
        prev.size += next.size
        list.splice(lo, 1)
      }
    } else if (next !== undefined && addr + size === next.addr) {
      next.addr = addr
      next.size += size
    } else {
      list.splice(lo, 0, { addr, size })
    }
  }

  /** A block of size bytes aligned to align (a power of two); 0 when no free range fits. */
  take(size: number, align: number): number {
    const want = this.roundSize(size)
    const alignment = Math.max(align, this.minAlign)
    for (let i = 0; i < this.#free.length; i++) {
      const range = this.#free[i]
      if (range === undefined) break
      const start = alignUp(range.addr, alignment)
      const end = start + want
      const rangeEnd = range.addr + range.size
      if (end > rangeEnd) continue
      // The range keeps what lies before the block, or what lies after it when nothing does (the
      // usual case, in place: this runs for every syscall's arguments); a second range takes a
      // tail beside a head.
      if (start > range.addr) {
        range.size = start - range.addr
        if (end < rangeEnd) this.#free.splice(i + 1, 0, { addr: end, size: rangeEnd - end })
      } else if (end < rangeEnd) {
        range.addr = end
        range.size = rangeEnd - end
      } else {
        this.#free.splice(i, 1)
      }
      this.#used.set(start, want)
      this.#usedBytes += want
      return start
    }
    return 0
  }

  /** Give back the block at addr; its size, or -1 when addr is not a live block. */
  release(addr: number): number {
    const size = this.#used.get(addr)
    if (size === undefined) return -1
    this.#used.delete(addr)
    this.#usedBytes -= size
    this.add(addr, size)
    return size
  }

  /** The size of the live block at addr, or undefined. */
  sizeOf(addr: number): number | undefined {
    return this.#used.get(addr)
  }

  /** The free ranges and live blocks, for load() in another FreeList. */
  save(): FreeListState {
    return { free: this.#free.map((r) => [r.addr, r.size] as const), used: [...this.#used] }
  }

  /** Take over the bookkeeping of save(), dropping this list's own. */
  load(state: FreeListState): void {
    this.#free.splice(0, this.#free.length, ...state.free.map(([addr, size]) => ({ addr, size })))
    this.#used.clear()
    this.#usedBytes = 0
    for (const [addr, size] of state.used) {
      this.#used.set(addr, size)
      this.#usedBytes += size
    }
  }

  /** The live blocks, [address, size], in no particular order. */
  blocks(): IterableIterator<[number, number]> {
    return this.#used.entries()
  }

  /** What a request of size bytes takes: at least one byte, rounded to minAlign. */
  roundSize(size: number): number {
    return alignUp(Math.max(size, 1), this.minAlign)
  }
}
