// SPDX-License-Identifier: MIT
/**
 * teardown.ts - how a runtime stops: fail (an error ends it) and close (its owner
 * ends it).
 *
 * fail() happens once: the first error is kept, every JS caller waiting for a
 * fiber is rejected with it, the loop stops waking up, and later calls reject with
 * RuntimeFailedError carrying it. The fibers stay as they were, for inspection.
 * close() fails the runtime if it has not failed, then ends every fiber and drops
 * every timer, so the heap holds nothing of the scheduler's afterwards.
 */
import { RuntimeFailedError } from '../errors.js'
import type { Calls } from './calls.js'
import type { EventLoop } from './event-loop.js'
import type { Lifecycle } from './lifecycle.js'

export interface TeardownParts {
  readonly events: EventLoop
  readonly calls: Calls
  readonly lifecycle: Lifecycle
  /** Called once when the runtime fails. */
  readonly onFailure: ((error: Error) => void) | undefined
}

export class Teardown {
  readonly #parts: TeardownParts
  #failure: Error | null = null
  #stopping = false

  constructor(parts: TeardownParts) {
    this.#parts = parts
  }

  get failure(): Error | null {
    return this.#failure
  }

  /** beginStop() was called: the owner is ending the runtime. */
  get stopping(): boolean {
    return this.#stopping
  }

  /**
   * The owner is about to end the runtime (a kernel halting): fibers still
   * blocked when the work runs out are left for close(), not reported as a
   * deadlock, so their callers get close()'s error.
   */
  beginStop(): void {
    this.#stopping = true
  }

  /** Stop for good: pending calls fail with error; nothing runs or wakes any more. */
  fail(error: Error): void {
    if (this.#failure !== null) return
    this.#failure = error
    this.#parts.events.stop()
    this.#parts.calls.rejectAll(error)
    this.#parts.onFailure?.(error)
  }

  /**
   * Stop for good and end every fiber, whatever it was doing: pending calls fail
   * with error, armed timers are dropped, stacks and buffers go back to the heap.
   */
  close(error: Error): void {
    this.fail(error)
    this.#parts.events.dropTimers()
    this.#parts.lifecycle.endAll()
  }

  throwIfFailed(): void {
    if (this.#failure !== null) throw new RuntimeFailedError(this.#failure)
  }
}
