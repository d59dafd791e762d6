// SPDX-License-Identifier: MIT
/**
 * asyncify-trampoline.ts - the asyncify fiber backend (see trampoline.ts).
 *
 * run() calls a fiber's root: the first time it enters it, afterwards it rewinds
 * it (asyncify) to where it stopped. A suspending host op starts the unwind in
 * suspendable(); the wasm frames return one by one into run(), which stops the
 * unwind there and keeps the fiber's stack pointer. run() always returns at once.
 * A suspended fiber is its stack and its asyncify buffer, both in wasm memory, so
 * a boot snapshot can keep it.
 *
 * Limits: the memory behind an asyncify buffer that overflowed is lost (the
 * runtime stops).
 */
import { AsyncifyOverflowError } from '../errors.js'
import { type Asyncify, AsyncifyState } from './asyncify.js'
import type { Fiber } from './fiber.js'
import { invariant } from './invariant.js'
import { type FiberMachine, type Outcome, SUSPEND, Trampoline } from './trampoline.js'

/** The {i32 cur, i32 end} in front of an asyncify buffer's data. */
const ASYNCIFY_HEADER = 8

export class AsyncifyTrampoline extends Trampoline {
  readonly fibersInMemory = true
  readonly #asyncify: Asyncify

  constructor(machine: FiberMachine, asyncify: Asyncify, fuel: number) {
    super(machine, fuel)
    this.#asyncify = asyncify
  }

  /**
   * On the rewind that resumes the fiber it returns the fiber's wake value;
   * otherwise it runs body, and if body says SUSPEND it starts unwinding the
   * fiber (the value returned then is ignored).
   */
  suspendable(body: (fiber: Fiber) => number | typeof SUSPEND): number {
    const asyncify = this.#asyncify
    const fiber = this.current
    if (asyncify.state === AsyncifyState.Rewinding) {
      asyncify.stopRewind(fiber)
      return fiber.wakeValue
    }
    const result = body(fiber)
    if (result !== SUSPEND) return result
    invariant(fiber.afterUnwind !== null, fiber, 'a host op says SUSPEND only after suspend() said why')
    const view = this.views.data
    view.setUint32(fiber.buffer, fiber.buffer + ASYNCIFY_HEADER, true)
    view.setUint32(fiber.buffer + 4, fiber.buffer + fiber.bufferSize, true)
    asyncify.startUnwind(fiber)
    return 0
  }

  run(fiber: Fiber): Outcome {
    this.enter(fiber)
    const asyncify = this.#asyncify
    try {
      if (fiber.started) asyncify.startRewind(fiber)
      fiber.started = true
      let result: unknown
      try {
        result = fiber.root.fn(...fiber.root.args)
      } catch (thrown) {
        return this.thrownOutcome(fiber, thrown)
      }
      this.checkStack(fiber)
      if (asyncify.state !== AsyncifyState.Unwinding) {
        // A sync op that set afterUnwind would leave the fiber believing it is suspended.
        invariant(fiber.afterUnwind === null, fiber, 'a fiber that asked to suspend unwinds')
        return { kind: 'returned', result }
      }
      this.#stopUnwind(fiber)
      return { kind: 'suspended', reason: this.takeAfterUnwind(fiber).kind }
    } finally {
      this.leave()
    }
  }

  /** End the unwind that brought fiber back here. */
  #stopUnwind(fiber: Fiber): void {
    const used = this.views.data.getUint32(fiber.buffer, true) - fiber.buffer
    // Asyncify checks the bound only here, after the unwind has written past it:
    // the memory behind the buffer is lost, so the runtime must stop now.
    if (used > fiber.bufferSize) throw new AsyncifyOverflowError(fiber.toString(), fiber.bufferSize)
    this.#asyncify.stopUnwind(fiber)
    fiber.sp = this.machine.stackPointer.value as number
    fiber.bufferHighWater = Math.max(fiber.bufferHighWater, used)
    this.bufferHighWater.set(fiber.name, Math.max(this.bufferHighWater.get(fiber.name) ?? 0, used))
  }
}
