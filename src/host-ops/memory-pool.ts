// SPDX-License-Identifier: MIT
/**
 * memory-pool.ts - the memory of a module that imports its own (lkl.wasm imports
 * env.memory), and the memories of halted kernels kept for the next.
 *
 * A new memory costs its first touch of every page it uses: the kernel's pages,
 * and its page cache as files are read and written. On a virtual machine that
 * returns freed pages to its host, that is ~20 µs a page: 64 MiB of reads cost
 * 300 ms in page faults alone. A halted kernel's memory has those pages already,
 * so the next kernel loaded from a boot snapshot gets it (a boot expects zeroed
 * memory, and gets a new one). Before a memory is kept, its buffer is detached
 * (grow(0)) if the halted kernel lent views of it to its users (KernelBuffer), so
 * those they still hold are empty; the kernel loaded into it writes what the
 * snapshot holds and zeroes what it left out. Detaching is not free: V8 counts
 * the new buffer, the whole memory, as fresh external memory, and collects
 * garbage for it (5-8 ms of the JS thread per kernel, measured with --trace-gc),
 * so a memory whose views only the halted runtime held is kept as it is: that
 * runtime reads and writes it no more (its arena refuses, its devices drop late
 * copies).
 *
 * Limits: SPARE memories per image (each holds the pages its kernel touched:
 * tens of MiB of the process's RSS); only memories of kernels that halted cleanly.
 */

/** Memories kept per image. */
const SPARE = 1
const WASM_PAGE = 65536

/** The limits of an imported memory, in wasm pages. */
export interface MemoryLimits {
  readonly initial: number
  readonly maximum: number | undefined
}

/** The pool of each module that imports its memory. */
const pools = new WeakMap<WebAssembly.Module, MemoryPool>()

export function memoryPool(module: WebAssembly.Module, limits: MemoryLimits): MemoryPool {
  let pool = pools.get(module)
  if (pool === undefined) pools.set(module, pool = new MemoryPool(limits))
  return pool
}

/** Memories for the instances of one module. */
export class MemoryPool {
  readonly #spare: WebAssembly.Memory[] = []

  constructor(readonly limits: MemoryLimits) {}

  /**
   * A memory for a new kernel, and whether another kernel used it: a halted
   * kernel's when recycled is true and one is kept, else a new one.
   */
  take(recycled: boolean): { memory: WebAssembly.Memory, used: boolean } {
    const spare = recycled ? this.#spare.pop() : undefined
    if (spare !== undefined) {
      // The module's data segments go back in at instantiation; what lies around them (its zeroed data) does not.
      new Uint8Array(spare.buffer, 0, this.limits.initial * WASM_PAGE).fill(0)
      return { memory: spare, used: true }
    }
    const { initial, maximum } = this.limits
    return { memory: new WebAssembly.Memory(maximum === undefined ? { initial } : { initial, maximum }), used: false }
  }

  /** Keep the memory of a kernel that halted cleanly; with detach, views of it are emptied first. */
  give(memory: WebAssembly.Memory, { detach }: { detach: boolean }): void {
    if (detach) memory.grow(0)
    if (this.#spare.length < SPARE) this.#spare.push(memory)
  }
}
