// SPDX-License-Identifier: MIT
/**
 * asyncify.ts - binaryen's asyncify as an explicit state machine.
 *
 * A module built by scripts/build-wasm.ts exports asyncify_start_unwind/stop_unwind/
 * start_rewind/stop_rewind/get_state. Every transition here asserts the state it
 * leaves, so that a host op that unwinds twice, or a rewind nobody stops, fails at
 * once with the transition named instead of corrupting a fiber's stack.
 *
 * An asyncify buffer is {i32 cur, i32 end} followed by its data; binaryen traps
 * (unreachable) when an unwind would write past end.
 */

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

export function hasAsyncify(exports: WebAssembly.Exports): boolean {
  return typeof exports.asyncify_start_unwind === 'function'
}

const STATE_NAMES = ['normal', 'unwinding', 'rewinding'] as const

export class Asyncify {
  readonly #exports: AsyncifyExports

  constructor(exports: AsyncifyExports) {
    this.#exports = exports
  }

  get state(): AsyncifyState {
    return this.#exports.asyncify_get_state() as AsyncifyState
  }

  startUnwind(buffer: number): void {
    this.#expect(AsyncifyState.Normal, 'start an unwind')
    this.#exports.asyncify_start_unwind(buffer)
  }

  stopUnwind(): void {
    this.#expect(AsyncifyState.Unwinding, 'stop an unwind')
    this.#exports.asyncify_stop_unwind()
  }

  startRewind(buffer: number): void {
    this.#expect(AsyncifyState.Normal, 'start a rewind')
    this.#exports.asyncify_start_rewind(buffer)
  }

  stopRewind(): void {
    this.#expect(AsyncifyState.Rewinding, 'stop a rewind')
    this.#exports.asyncify_stop_rewind()
  }

  #expect(state: AsyncifyState, action: string): void {
    const actual = this.state
    if (actual !== state) {
      throw new Error(`asyncify: cannot ${action} while ${STATE_NAMES[actual] ?? actual} (expected ${STATE_NAMES[state]})`)
    }
  }
}
