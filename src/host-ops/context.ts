// SPDX-License-Identifier: MIT
/**
 * context.ts - what every host-op family works with, and the typed view of C memory.
 *
 * The import object must exist before the instance does, so the families receive
 * this context and read its fields at call time; instantiate() (index.ts) binds
 * them once the instance exists. C pointers are branded numbers: a Ptr<'host_sem'>
 * cannot be passed where a Ptr<'char'> is expected.
 */
import { HostOpMisuseError } from '../errors.js'
import { MemoryViews } from '../sched/memory-views.js'
import type { Scheduler } from '../sched/scheduler.js'
import type { Console } from './console.js'

/** A C pointer into the instance's memory, branded with the C type it points to. */
export type Ptr<CType extends string> = number & { readonly ctype: CType }

export class HostContext {
  #sched: Scheduler | null = null
  #views: MemoryViews | null = null
  #hostEntry: ((fn: number, arg: number) => unknown) | null = null

  constructor(readonly console: Console) {}

  bind(sched: Scheduler, memory: WebAssembly.Memory, hostEntry: (fn: number, arg: number) => unknown): void {
    this.#sched = sched
    this.#views = new MemoryViews(memory)
    this.#hostEntry = hostEntry
  }

  get sched(): Scheduler {
    if (this.#sched === null) throw new Error('host op called before the instance was bound to its host')
    return this.#sched
  }

  get hostEntry(): (fn: number, arg: number) => unknown {
    if (this.#hostEntry === null) throw new Error('host op called before the instance was bound to its host')
    return this.#hostEntry
  }

  /** The memory's bytes, valid until it grows: take them again in each op. */
  bytes(): Uint8Array {
    return this.#memoryViews().bytes
  }

  view(): DataView {
    return this.#memoryViews().data
  }

  #memoryViews(): MemoryViews {
    if (this.#views === null) throw new Error('host op called before the instance was bound to its host')
    return this.#views
  }

  /** The misuse error for op, naming the running fiber. */
  misuse(op: string, detail: string): HostOpMisuseError {
    return new HostOpMisuseError(op, this.sched.current.toString(), detail)
  }

  /** Throw a misuse error unless [addr, addr+size) lies inside the memory. */
  checkRange(op: string, addr: number, size: number): void {
    if (addr <= 0 || size < 0 || addr + size > this.bytes().length) {
      throw this.misuse(op, `bad pointer 0x${addr.toString(16)} (${size} bytes)`)
    }
  }
}

/** Render a handle or pointer the way C code would print it. */
export function hex(value: number): string {
  return `0x${value.toString(16)}`
}
