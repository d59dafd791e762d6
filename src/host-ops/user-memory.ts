// SPDX-License-Identifier: MIT
/**
 * user-memory.ts - the user arena: the one region of the instance's memory that
 * the host stages syscall arguments in (the argument block, strings, buffers), and
 * the only memory the kernel accepts user pointers into. The kernel learns its
 * bounds from the user_memory op at boot and its access_ok() checks them, so no
 * address a caller passes can reach kernel data or make the kernel trap.
 *
 * UserArena reserves the region from the scheduler's heap once and hands out
 * blocks of it: first fit over a free list sorted by address, coalescing on free.
 * It never grows: a request that does not fit fails with a RangeError saying
 * whether the arena is too small or only full for now (calls in flight hold it).
 *
 * Limits: O(free ranges) per call, like the heap; the arena's size is fixed when
 * the instance is made.
 */
import { UklklError } from '../errors.js'
import type { HostContext, Ptr } from './context.js'
import type { GuestMemory } from './runtime.js'

const PAGE = 4096
const MIN_ALIGN = 8

interface Range {
  addr: number
  size: number
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align
}

/** What the arena is reserved from: the scheduler's heap. */
export interface ArenaSource {
  alloc(size: number, align?: number): number
}

/** The arena, as the guest memory syscall arguments are staged in. */
export class UserArena implements GuestMemory {
  readonly #memory: WebAssembly.Memory
  /** Sorted by address, never adjacent (they coalesce). */
  readonly #free: Range[]
  readonly #used = new Map<number, number>()
  #usedBytes = 0

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
    this.#memory = memory
    this.#free = [{ addr: start, size }]
  }

  get end(): number {
    return this.start + this.size
  }

  /** size bytes aligned to align (a power of two); throws RangeError when they do not fit. */
  alloc(size: number, align = MIN_ALIGN): number {
    const want = alignUp(Math.max(size, 1), MIN_ALIGN)
    align = Math.max(align, MIN_ALIGN)
    if (want > this.size) {
      throw new RangeError(`syscall arguments of ${size} bytes do not fit in the ${this.size}-byte user arena `
        + '(KernelOptions.userMemoryMiB sets its size)')
    }
    for (let i = 0; i < this.#free.length; i++) {
      const range = this.#free[i]
      if (range === undefined) break
      const start = alignUp(range.addr, align)
      if (start + want > range.addr + range.size) continue
      const before: Range = { addr: range.addr, size: start - range.addr }
      const after: Range = { addr: start + want, size: range.addr + range.size - (start + want) }
      this.#free.splice(i, 1, ...[before, after].filter((r) => r.size > 0))
      this.#used.set(start, want)
      this.#usedBytes += want
      return start
    }
    throw new RangeError(`syscall arguments of ${size} bytes do not fit in the user arena now: calls in flight `
      + `hold ${this.#usedBytes} of its ${this.size} bytes (KernelOptions.userMemoryMiB sets its size)`)
  }

  /** Free a block from alloc. */
  free(addr: number): void {
    const size = this.#used.get(addr)
    if (size === undefined) throw new UklklError(`free of 0x${addr.toString(16)}: not a live block of the user arena`)
    this.#used.delete(addr)
    this.#usedBytes -= size
    this.#insertFree({ addr, size })
  }

  /** Copy bytes in at address, which must lie in the arena. */
  write(address: number, bytes: Uint8Array): void {
    this.#checkInside(address, bytes.length)
    new Uint8Array(this.#memory.buffer).set(bytes, address)
  }

  /** Copy into.length bytes out from address, which must lie in the arena. */
  read(address: number, into: Uint8Array): void {
    this.#checkInside(address, into.length)
    into.set(new Uint8Array(this.#memory.buffer, address, into.length))
  }

  get stats(): { usedBytes: number, liveBlocks: number, size: number } {
    return { usedBytes: this.#usedBytes, liveBlocks: this.#used.size, size: this.size }
  }

  #checkInside(address: number, length: number): void {
    if (address < this.start || address + length > this.end) {
      throw new RangeError(`0x${address.toString(16)} (${length} bytes) is outside the user arena`)
    }
  }

  #insertFree(range: Range): void {
    const list = this.#free
    let at = list.findIndex((r) => r.addr > range.addr)
    if (at < 0) at = list.length
    const prev = list[at - 1]
    const next = list[at]
    if (prev !== undefined && prev.addr + prev.size === range.addr) {
      prev.size += range.size
      if (next !== undefined && prev.addr + prev.size === next.addr) {
        prev.size += next.size
        list.splice(at, 1)
      }
    } else if (next !== undefined && range.addr + range.size === next.addr) {
      next.addr = range.addr
      next.size += range.size
    } else {
      list.splice(at, 0, range)
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
