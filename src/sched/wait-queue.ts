// SPDX-License-Identifier: MIT
/**
 * wait-queue.ts - the FIFO of fibers blocked on one thing.
 *
 * Mutexes, semaphores and joins are built on it. The queue only orders waiters;
 * the scheduler's wait/wakeOne/wakeAll move fibers in and out and change their
 * state, and cancel a waiter's timeout when it is woken.
 */
import type { Fiber } from './fiber.js'

export class WaitQueue {
  readonly waiters: Fiber[] = []

  /** describe() names what the waiters wait on, e.g. "semaphore 0x5", in deadlock reports. */
  constructor(readonly describe: () => string) {}

  get length(): number {
    return this.waiters.length
  }
}
