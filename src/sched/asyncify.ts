// SPDX-License-Identifier: MIT
/**
 * asyncify.ts - binaryen's asyncify as an explicit state machine.
 *
 * A module built by scripts/build-wasm.ts exports asyncify_start_unwind/stop_unwind/
 * start_rewind/stop_rewind/get_state. Every transition here asserts the state it
 * leaves, so that a host op that unwinds twice, or a rewind nobody stops, fails at
 * once with the transition and the fiber named instead of corrupting a fiber's stack.
 * Each transition works on the fiber's own asyncify buffer; only the trampoline
 * (trampoline.ts) calls them.
 *
 * An asyncify buffer is {i32 cur, i32 end} followed by its data. An unwind writes
 * past end without trapping; the trampoline checks cur against end afterwards.
 *
 * The state is kept here as well as in the module: only these four transitions
 * change it (the instrumented code only reads it), and every suspending host op
 * asks for it, which would otherwise be a call into wasm each time.
 */
import { SchedulerInvariantError } from '../errors.js'
import type { Fiber } from './fiber.js'

export enum AsyncifyState {
  Normal = 0,
  Unwinding = 1,
  Rewinding = 2,
}

export interface AsyncifyExports {
  asyncify_start_unwind(buffer: number): void
  asyncify_stop_unwind(): void
  asyncify_start_rewind(buffer: number): void
  asyncify_stop_rewind(): void
  asyncify_get_state(): number
}

/** Whether a module with these export names was asyncified (else its fibers run on JSPI). */
export function hasAsyncify(exportNames: ReadonlySet<string>): boolean {
  return exportNames.has('asyncify_start_unwind')
}

const STATE_NAMES = ['normal', 'unwinding', 'rewinding'] as const

export class Asyncify {
  readonly #exports: AsyncifyExports
  #state: AsyncifyState

  constructor(exports: AsyncifyExports) {
    this.#exports = exports
    this.#state = exports.asyncify_get_state() as AsyncifyState
  }

  get state(): AsyncifyState {
    return this.#state
  }

  startUnwind(fiber: Fiber): void {
    this.#expect(fiber, AsyncifyState.Normal, 'start an unwind')
    this.#exports.asyncify_start_unwind(fiber.buffer)
    this.#state = AsyncifyState.Unwinding
  }

  stopUnwind(fiber: Fiber): void {
    this.#expect(fiber, AsyncifyState.Unwinding, 'stop an unwind')
    this.#exports.asyncify_stop_unwind()
    this.#state = AsyncifyState.Normal
  }

  startRewind(fiber: Fiber): void {
    this.#expect(fiber, AsyncifyState.Normal, 'start a rewind')
    this.#exports.asyncify_start_rewind(fiber.buffer)
    this.#state = AsyncifyState.Rewinding
  }

  stopRewind(fiber: Fiber): void {
    this.#expect(fiber, AsyncifyState.Rewinding, 'stop a rewind')
    this.#exports.asyncify_stop_rewind()
    this.#state = AsyncifyState.Normal
  }

  #expect(fiber: Fiber, state: AsyncifyState, action: string): void {
    const actual = this.state
    if (actual !== state) {
      throw new SchedulerInvariantError(fiber.toString(),
        `asyncify can ${action} only while ${STATE_NAMES[state]}, not while ${STATE_NAMES[actual] ?? actual}`)
    }
  }
}
