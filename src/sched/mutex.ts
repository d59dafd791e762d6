// SPDX-License-Identifier: MIT
/**
 * mutex.ts - a mutex, optionally recursive, with an owner, on one wait queue.
 *
 * unlock() hands ownership straight to the longest waiter. Misuse is reported as a
 * result, not thrown: the host op that called names it (see src/host-ops/sync.ts).
 */
import type { Fiber } from './fiber.js'
import { SUSPEND, type Scheduler } from './scheduler.js'
import { WaitQueue } from './wait-queue.js'

export type MutexMisuse = 'relock' | 'not-owner' | 'not-locked'

export class Mutex {
  readonly queue: WaitQueue
  owner: Fiber | null = null
  depth = 0

  constructor(readonly recursive: boolean, describe: () => string) {
    this.queue = new WaitQueue(describe)
  }

  lock(sched: Scheduler, fiber: Fiber): 0 | typeof SUSPEND | MutexMisuse {
    if (this.owner === null) {
      this.owner = fiber
      this.depth = 1
      return 0
    }
    if (this.owner === fiber) {
      if (!this.recursive) return 'relock'
      this.depth++
      return 0
    }
    return sched.wait(fiber, this.queue)
  }

  unlock(sched: Scheduler, fiber: Fiber): 0 | MutexMisuse {
    if (this.owner === null) return 'not-locked'
    if (this.owner !== fiber) return 'not-owner'
    if (--this.depth > 0) return 0
    const next = sched.wakeOne(this.queue, 0)
    this.owner = next ?? null
    this.depth = next === undefined ? 0 : 1
    return 0
  }
}
