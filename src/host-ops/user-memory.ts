// SPDX-License-Identifier: MIT
/**
 * user-memory.ts - the user arena: the one region of the instance's memory that
 * the host stages syscall arguments in (the argument block, strings, buffers), and
 * the only memory the kernel accepts user pointers into. The kernel learns its
 * bounds from the user_memory op at boot and its access_ok() checks them, so no
 * address a caller passes can reach kernel data or make the kernel trap.
 *
 * UserArena reserves the region from the scheduler's heap once and hands out
 * blocks of it (a FreeList, as the heap's). Most syscalls need only a few dozen
 * bytes, so blocks of up to SLAB bytes are slabs kept for reuse: a freed slab
 * goes on a stack and the next small request takes it back, with no search and
 * no allocation.
 * It never grows: a request that does not fit fails with a RangeError saying
 * whether the arena is too small or only full for now (calls in flight hold it).
 *
 * Limits: O(free ranges) per larger block, like the heap (spare slabs go back to
 * the free list when a larger block does not fit otherwise); the arena's size is
 * fixed when the instance is made.
 */
import { KernelStoppedError, UklklError } from '../errors.js'
import type { HostContext, Ptr } from './context.js'
import type { GuestMemory } from './runtime.js'
import { FreeList, type FreeListState, alignUp } from '../sched/free-list.js'
import { MemoryViews, writeString } from '../sched/memory-views.js'

const PAGE = 4096
const MIN_ALIGN = 8
/**
 * The size of a reusable small block: an argument block with a path or a small
 * struct; statx's (its 256-byte struct, the block and a path) among them, k.fs's
 * most frequent call after open.
 */
const SLAB = 512

/** An arena's bookkeeping as plain data, for a boot snapshot. */
export interface ArenaState {
  readonly start: number
  readonly size: number
  readonly blocks: FreeListState
  readonly spareSlabs: readonly number[]
}

/** What the arena is reserved from: the scheduler's heap. */
export interface ArenaSource {
  alloc(size: number, align?: number): number
}

/** The arena, as the guest memory syscall arguments are staged in. */
export class UserArena implements GuestMemory {
  readonly #blocks = new FreeList(MIN_ALIGN)
  /** Slabs not in use. */
  readonly #spareSlabs: number[] = []
  /**
   * Every slab the free list has given out, and whether it is in use. A slab keeps
   * its entry while spare: in V8, deleting a collection's last entry and adding
   * one again costs about a microsecond (the table shrinks and grows).
   */
  readonly #slabs = new Map<number, boolean>()
  readonly #views: MemoryViews
  #closed = false
  #lentViews = false

  /**
   * Reserve size bytes (rounded up to whole pages) of memory from source; null
   * when it has no room.
   */
  static reserve(source: ArenaSource, memory: WebAssembly.Memory, size: number): UserArena | null {
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`the user arena needs a positive size, not ${size}`)
    const bytes = alignUp(size, PAGE)
    const start = source.alloc(bytes, PAGE)
    return start === 0 ? null : new UserArena(memory, start, bytes)
  }

  private constructor(memory: WebAssembly.Memory, readonly start: number, readonly size: number) {
    this.#blocks.add(start, size)
    this.#views = new MemoryViews(memory)
  }

  get end(): number {
    return this.start + this.size
  }

  /** size bytes aligned to align (a power of two); throws RangeError when they do not fit. */
  /**
   * The runtime is closed: its memory may go to another kernel (memory-pool.ts),
   * so no view, copy or block of it is given out any more; frees do nothing.
   */
  close(): void {
    this.#closed = true
  }

  alloc(size: number, align = MIN_ALIGN): number {
    this.#checkOpen()
    if (size <= SLAB && align <= MIN_ALIGN) {
      const slab = this.#spareSlabs.pop() ?? this.#take(SLAB, MIN_ALIGN)
      this.#slabs.set(slab, true)
      return slab
    }
    return this.#take(size, align)
  }

  #take(size: number, align: number): number {
    if (this.#blocks.roundSize(size) > this.size) {
      throw new RangeError(`syscall arguments of ${size} bytes do not fit in the ${this.size}-byte user arena `
        + '(KernelOptions.userMemoryMiB sets its size)')
    }
    let block = this.#blocks.take(size, align)
    if (block === 0 && this.#spareSlabs.length > 0) {
      // Spare slabs may be what is in the way: they go back to the free list, to coalesce.
      for (const slab of this.#spareSlabs.splice(0)) {
        this.#slabs.delete(slab)
        this.#blocks.release(slab)
      }
      block = this.#blocks.take(size, align)
    }
    if (block !== 0) return block
    throw new RangeError(`syscall arguments of ${size} bytes do not fit in the user arena now: calls in flight `
      + `hold ${this.#blocks.usedBytes} of its ${this.size} bytes (KernelOptions.userMemoryMiB sets its size)`)
  }

  /** Free a block from alloc. */
  free(addr: number): void {
    if (this.#closed) return
    const slab = this.#slabs.get(addr)
    if (slab === true) {
      this.#slabs.set(addr, false)
      this.#spareSlabs.push(addr)
      return
    }
    // A spare slab is a live block to the free list, but not to the caller.
    if (slab === false || this.#blocks.release(addr) < 0) {
      throw new UklklError(`free of 0x${addr.toString(16)}: not a live block of the user arena`)
    }
  }

  save(): ArenaState {
    return { start: this.start, size: this.size, blocks: this.#blocks.save(), spareSlabs: [...this.#spareSlabs] }
  }

  /** Take over the bookkeeping of an arena at the same place (a boot snapshot's). */
  load(state: ArenaState): void {
    if (state.start !== this.start || state.size !== this.size) {
      throw new UklklError(`a user arena at 0x${state.start.toString(16)} (${state.size} bytes) cannot load into one at `
        + `0x${this.start.toString(16)} (${this.size} bytes)`)
    }
    this.#blocks.load(state.blocks)
    this.#slabs.clear()
    this.#spareSlabs.splice(0, this.#spareSlabs.length, ...state.spareSlabs)
    for (const slab of state.spareSlabs) this.#slabs.set(slab, false)
  }

  /** Blocks in use by calls, [address, size]: spare slabs are not. */
  *liveBlocks(): Generator<[number, number]> {
    for (const [address, size] of this.#blocks.blocks()) if (this.#slabs.get(address) !== false) yield [address, size]
  }

  /** Copy bytes in at address, which must lie in the arena. */
  write(address: number, bytes: Uint8Array): void {
    this.#checkInside(address, bytes.length)
    this.#views.bytes.set(bytes, address)
  }

  /** Copy text in at address as UTF-8 and a NUL, within room bytes of the arena (its UTF-8 bytes and one more, at least). */
  writeString(address: number, text: string, room: number): void {
    this.#checkInside(address, room)
    writeString(this.#views.bytes.subarray(address, address + room), text)
  }

  /** Copy into.length bytes out from address, which must lie in the arena. */
  read(address: number, into: Uint8Array): void {
    this.#checkInside(address, into.length)
    into.set(this.#views.bytes.subarray(address, address + into.length))
  }

  /** A view of length bytes at address, in the arena; valid until the memory grows. */
  view(address: number, length: number): Uint8Array {
    this.#checkInside(address, length)
    this.#lentViews = true
    return this.#views.bytes.subarray(address, address + length)
  }

  /**
   * Whether view() ever gave one out: such views (a KernelBuffer's bytes) are
   * its users', and outlive the kernel unless the memory's buffer is detached.
   */
  get lentViews(): boolean {
    return this.#lentViews
  }

  /** Bytes in live blocks (a slab counts whole), and the number of live blocks. */
  get stats(): { usedBytes: number, liveBlocks: number, size: number } {
    const spare = this.#spareSlabs.length
    return { usedBytes: this.#blocks.usedBytes - spare * SLAB, liveBlocks: this.#blocks.liveBlocks - spare, size: this.size }
  }

  #checkOpen(): void {
    if (this.#closed) throw new KernelStoppedError('the kernel has stopped: its memory is no longer its own')
  }

  #checkInside(address: number, length: number): void {
    this.#checkOpen()
    if (address < this.start || address + length > this.end) {
      throw new RangeError(`0x${address.toString(16)} (${length} bytes) is outside the user arena`)
    }
  }
}

export interface UserMemoryOps {
  user_memory(size: Ptr<'unsigned long'>): Ptr<'void'>
}

/** The family; arena() is the instance's arena once it exists, or null for none. */
export function userMemoryOps(ctx: HostContext, arena: () => UserArena | null): UserMemoryOps {
  return {
    user_memory(sizePtr) {
      ctx.checkRange('user_memory', sizePtr >>> 0, 4)
      const region = arena()
      ctx.view().setUint32(sizePtr >>> 0, region?.size ?? 0, true)
      return (region?.start ?? 0) as Ptr<'void'>
    },
  }
}
