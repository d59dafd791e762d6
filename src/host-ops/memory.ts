// SPDX-License-Identifier: MIT
/**
 * memory.ts - the memory family: mem_alloc/mem_free and page_alloc/page_free.
 *
 * Both draw on the scheduler's heap (which also holds fiber stacks), so each block
 * is tagged with the op that made it: freeing a stack, a page block with mem_free,
 * or anything twice is reported as misuse instead of corrupting the heap.
 *
 * Sizes and addresses are C unsigned longs, which arrive as signed i32: each is
 * read back as unsigned (>>> 0) before use, so a huge size fails instead of
 * wrapping to a small one.
 */
import { type HostContext, type Ptr, hex } from './context.js'

const PAGE = 4096

export interface MemoryOps {
  mem_alloc(size: number): Ptr<'void'>
  mem_free(addr: Ptr<'void'>): void
  page_alloc(size: number): Ptr<'void'>
  page_free(addr: Ptr<'void'>, size: number): void
}

/** The op that made each live block (a boot snapshot saves and loads it). */
export type BlockMakers = Map<number, 'mem_alloc' | 'page_alloc'>

export function memoryOps(ctx: HostContext, blocks: BlockMakers = new Map()): MemoryOps {
  const release = (op: 'mem_free' | 'page_free', made: 'mem_alloc' | 'page_alloc', addr: number): void => {
    const maker = blocks.get(addr)
    if (maker === undefined) throw ctx.misuse(op, `${hex(addr)} is not a live block (freed twice, or never allocated)`)
    if (maker !== made) throw ctx.misuse(op, `${hex(addr)} came from ${maker}, not ${made}`)
    blocks.delete(addr)
    ctx.sched.heap.free(addr)
  }
  return {
    mem_alloc(size) {
      const addr = ctx.sched.heap.alloc(size >>> 0)
      if (addr !== 0) blocks.set(addr, 'mem_alloc')
      return addr as Ptr<'void'>
    },
    mem_free(addr) {
      if (addr !== 0) release('mem_free', 'mem_alloc', addr >>> 0)
    },
    page_alloc(length) {
      const size = length >>> 0
      if (size % PAGE !== 0) throw ctx.misuse('page_alloc', `size ${size} is not a multiple of ${PAGE}`)
      const addr = ctx.sched.heap.alloc(size, PAGE)
      if (addr !== 0) blocks.set(addr, 'page_alloc')
      return addr as Ptr<'void'>
    },
    page_free(ptr, length) {
      const addr = ptr >>> 0
      const size = length >>> 0
      const actual = ctx.sched.heap.sizeOf(addr)
      if (actual !== undefined && blocks.get(addr) === 'page_alloc' && actual !== size) {
        throw ctx.misuse('page_free', `${hex(addr)} has ${actual} bytes, not ${size}`)
      }
      release('page_free', 'page_alloc', addr)
    },
  }
}
