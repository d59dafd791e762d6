// SPDX-License-Identifier: MIT
/**
 * run-queue.ts - littlekernel-style priority run queues.
 *
 * One FIFO per priority and a bitmap of the non-empty ones, so that picking the
 * next fiber is a bit scan. Which end a fiber goes to is the policy's choice
 * (policy.ts); this file only keeps the queues and checks that a fiber is queued
 * at most once, ready, at a valid priority.
 */
import { type Fiber, PRIORITY_HIGHEST, PRIORITY_LOWEST } from './fiber.js'
import { expectState, invariant } from './invariant.js'

export class RunQueue {
  readonly #queues: Fiber[][] = Array.from({ length: PRIORITY_HIGHEST + 1 }, () => [])
  #bitmap = 0
  #size = 0

  get size(): number {
    return this.#size
  }

  insertHead(fiber: Fiber): void {
    this.#check(fiber)
    this.#queues[fiber.priority]!.unshift(fiber)
    this.#added(fiber)
  }

  insertTail(fiber: Fiber): void {
    this.#check(fiber)
    this.#queues[fiber.priority]!.push(fiber)
    this.#added(fiber)
  }

  /** The highest non-empty priority, or -1 when empty. */
  highestPriority(): number {
    return 31 - Math.clz32(this.#bitmap)
  }

  /** The head of the highest non-empty queue, or undefined when all are empty. */
  popHighest(): Fiber | undefined {
    const priority = this.highestPriority()
    if (priority < 0) return undefined
    const queue = this.#queues[priority]!
    const fiber = queue.shift()
    if (queue.length === 0) this.#bitmap &= ~(1 << priority)
    this.#size--
    return fiber
  }

  #check(fiber: Fiber): void {
    expectState(fiber, 'ready', 'queueing to run')
    invariant(fiber.priority >= PRIORITY_LOWEST && fiber.priority <= PRIORITY_HIGHEST, fiber,
      'a queued fiber has a priority from PRIORITY_LOWEST to PRIORITY_HIGHEST')
    invariant(!this.#queues[fiber.priority]!.includes(fiber), fiber, 'a fiber sits in the run queue at most once')
  }

  #added(fiber: Fiber): void {
    this.#bitmap |= 1 << fiber.priority
    this.#size++
  }
}
