// SPDX-License-Identifier: MIT
/**
 * handles.ts - the opaque handles C holds for host objects (semaphores, mutexes, timers).
 *
 * Handles are never reused within a runtime, so a stale handle cannot reach a new
 * object: using one reports "already freed" (for the most recent frees) instead of
 * corrupting something else. One numbering for all kinds, so that a mutex passed
 * as a semaphore is reported as such.
 */
import { type HostContext, hex } from './context.js'

const REMEMBERED_FREES = 4096

/** A live handle and what it stands for. */
export interface HandleEntry {
  readonly handle: number
  readonly kind: string
  readonly value: unknown
}

export class Handles {
  #next = 1
  readonly #live = new Map<number, { kind: string, value: unknown }>()
  /** Kinds of recently freed handles, oldest first, to explain a double free. */
  readonly #freed = new Map<number, string>()

  constructor(readonly ctx: HostContext) {}

  add(kind: string, value: unknown): number {
    const handle = this.#next++
    this.#live.set(handle, { kind, value })
    return handle
  }

  /** The object behind handle, which must be a live one of kind; else a misuse error for op. */
  get<T>(kind: string, handle: number, op: string): T {
    const entry = this.#live.get(handle)
    if (entry === undefined) {
      const freed = this.#freed.get(handle)
      if (freed !== undefined) throw this.ctx.misuse(op, `${freed} ${hex(handle)} was already freed`)
      throw this.ctx.misuse(op, `${hex(handle)} is not a ${kind}`)
    }
    if (entry.kind !== kind) throw this.ctx.misuse(op, `${hex(handle)} is a ${entry.kind}, not a ${kind}`)
    return entry.value as T
  }

  /** The live handles, oldest first, and the number the next one gets: what a boot snapshot keeps. */
  save(): { next: number, live: HandleEntry[] } {
    return { next: this.#next, live: [...this.#live].map(([handle, { kind, value }]) => ({ handle, kind, value })) }
  }

  /** Take over another table's handles (a boot snapshot's), numbers included; this one must be unused. */
  load(next: number, live: Iterable<HandleEntry>): void {
    if (this.#next !== 1) throw new Error('handles load only into an unused table')
    for (const { handle, kind, value } of live) this.#live.set(handle, { kind, value })
    this.#next = next
  }

  remove<T>(kind: string, handle: number, op: string): T {
    const value = this.get<T>(kind, handle, op)
    this.#live.delete(handle)
    this.#freed.set(handle, kind)
    if (this.#freed.size > REMEMBERED_FREES) this.#freed.delete(this.#freed.keys().next().value!)
    return value
  }
}
