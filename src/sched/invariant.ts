// SPDX-License-Identifier: MIT
/**
 * invariant.ts - the scheduler's asserts, littlekernel's THREAD_CHECKS in TS.
 *
 * Every step that moves a fiber opens with these: the state it must be in, the
 * rule that must hold. A broken one throws SchedulerInvariantError naming the
 * fiber and the rule, which fails the runtime at the step that went wrong
 * instead of letting a corrupt queue or stack surface later.
 *
 * The rule is a constant string and the state message is built only on failure,
 * so the checks cost a comparison on the switch path.
 */
import { SchedulerInvariantError } from '../errors.js'
import type { Fiber, FiberState } from './fiber.js'

/** Throw unless holds; rule says what must be true, e.g. "a fiber unwinds only after asking to". */
export function invariant(holds: boolean, fiber: Fiber | null, rule: string): asserts holds {
  if (!holds) throw new SchedulerInvariantError(fiber?.toString() ?? null, rule)
}

/** Throw unless fiber is in state before step (e.g. "preempt") acts on it. */
export function expectState(fiber: Fiber, state: FiberState, step: string): void {
  if (fiber.state !== state) {
    throw new SchedulerInvariantError(fiber.toString(), `${step} needs the fiber ${state}, but it is ${fiber.state}`)
  }
}
