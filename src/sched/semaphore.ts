// SPDX-License-Identifier: MIT
/**
 * semaphore.ts - a counting semaphore on one wait queue.
 *
 * up() hands the count straight to the longest waiter, so a woken fiber never
 * finds the count taken by a fiber that ran first.
 */
import type { Fiber } from './fiber.js'
import { SUSPEND, type Scheduler } from './scheduler.js'
import { WaitQueue } from './wait-queue.js'

export class Semaphore {
  readonly queue: WaitQueue

  constructor(public count: number, describe: () => string) {
    this.queue = new WaitQueue(describe)
  }

  down(sched: Scheduler, fiber: Fiber): 0 | typeof SUSPEND {
    if (this.count > 0) {
      this.count--
      return 0
    }
    return sched.wait(fiber, this.queue)
  }

  up(sched: Scheduler): void {
    if (sched.wakeOne(this.queue, 0) === undefined) this.count++
  }
}
