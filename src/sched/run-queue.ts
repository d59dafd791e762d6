// SPDX-License-Identifier: MIT
/**
 * run-queue.ts - littlekernel-style priority run queues.
 *
 * One FIFO per priority and a bitmap of the non-empty ones, so that picking the
 * next fiber is a bit scan. A preempted fiber with quantum left goes to the head of
 * its queue, a yielding or expired one to the tail.
 */
import { type Fiber, PRIORITY_HIGHEST, PRIORITY_LOWEST } from './fiber.js'

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

  remove(fiber: Fiber): void {
    const queue = this.#queues[fiber.priority]!
    const index = queue.indexOf(fiber)
    if (index < 0) throw new Error(`run queue: ${fiber} is not queued`)
    queue.splice(index, 1)
    if (queue.length === 0) this.#bitmap &= ~(1 << fiber.priority)
    this.#size--
  }

  /** The highest non-empty priority, or -1 when empty. */
  highestPriority(): number {
    return 31 - Math.clz32(this.#bitmap)
  }

  popHighest(): Fiber | undefined {
    const priority = this.highestPriority()
    if (priority < 0) return undefined
    const queue = this.#queues[priority]!
    const fiber = queue.shift()!
    if (queue.length === 0) this.#bitmap &= ~(1 << priority)
    this.#size--
    return fiber
  }

  #check(fiber: Fiber): void {
    if (fiber.state !== 'ready') throw new Error(`run queue: ${fiber} is ${fiber.state}, not ready`)
    if (fiber.priority < PRIORITY_LOWEST || fiber.priority > PRIORITY_HIGHEST) {
      throw new Error(`run queue: ${fiber} has priority ${fiber.priority}`)
    }
    if (this.#queues[fiber.priority]!.includes(fiber)) throw new Error(`run queue: ${fiber} is already queued`)
  }

  #added(fiber: Fiber): void {
    this.#bitmap |= 1 << fiber.priority
    this.#size++
  }
}
