// SPDX-License-Identifier: MIT
/**
 * policy.ts - who runs next and for how long: the tick, the quantum, the requeue.
 *
 * 32 priorities with a FIFO each (run-queue.ts); the head of the highest
 * non-empty one runs. Time is counted in ticks of tickMs, read from the clock
 * whenever the preemption fuel of the running fiber runs out. As in littlekernel
 * (thread_timer_tick / thread_preempt), the tick only decides, and one place acts
 * on the decision once the fiber has unwound:
 *
 * - tick(): the running fiber makes way when the host slice is over (the JS event
 *   loop is due), when a higher priority is runnable, or when it has used up its
 *   quantum while others wait;
 * - preempt(): with quantum left it goes back to the head of its queue (it was
 *   interrupted, not done, and resumes first); with none it goes to the tail and
 *   drops to PRIORITY_LOWEST with a fresh quantum, so a spinning fiber cannot lock
 *   lower priorities out;
 * - yield() puts it at the tail at its own priority; block() takes it off the CPU.
 *   Either ends a demotion: a fiber that blocks or yields is not spinning.
 *
 * No JS, no asyncify here: the policy sees fibers, the clock and the run queue.
 *
 * Limits: no priority inheritance, no fairness between priorities beyond the
 * demotion; the slice is bounded by how often the fuel runs out.
 */
import { type Fiber, PRIORITY_LOWEST } from './fiber.js'
import { expectState, invariant } from './invariant.js'
import { RunQueue } from './run-queue.js'

export interface PolicyOptions {
  /** Period of the scheduler tick, ms. */
  readonly tickMs: number
  /** Ticks a fiber may run before others of its priority get a turn. */
  readonly quantumTicks: number
  /** Longest stretch of work before the JS event loop gets a turn, ms. */
  readonly hostSliceMs: number
}

export class RunPolicy {
  readonly #options: PolicyOptions
  readonly #queue = new RunQueue()
  #nextTickAt = 0
  #sliceEnd = 0

  constructor(options: PolicyOptions) {
    this.#options = options
  }

  /** Fibers waiting for the CPU. */
  get runnable(): number {
    return this.#queue.size
  }

  /** A fiber becomes runnable (created, woken, called, retiring): the tail of its priority. */
  admit(fiber: Fiber): void {
    invariant(fiber.state !== 'running' && fiber.state !== 'exited', fiber,
      'only a fiber that is off the CPU and alive becomes runnable')
    fiber.state = 'ready'
    this.#queue.insertTail(fiber)
  }

  /** Take the next fiber off the run queue and make it the running one; its tick period starts at now. */
  next(now: number): Fiber {
    const fiber = this.#queue.popHighest()
    invariant(fiber !== undefined, null, 'a fiber is picked only when one is runnable')
    expectState(fiber, 'ready', 'dispatch')
    fiber.state = 'running'
    // A fiber keeps what is left of its quantum across a preemption or a yield.
    if (fiber.quantum <= 0) fiber.quantum = this.#options.quantumTicks
    this.#nextTickAt = now + this.#options.tickMs
    return fiber
  }

  /** The scheduler starts a stretch of work on the JS thread. */
  startSlice(now: number): void {
    this.#sliceEnd = now + this.#options.hostSliceMs
  }

  /** The stretch is over: the event loop is due. */
  sliceOver(now: number): boolean {
    return now >= this.#sliceEnd
  }

  tickDue(now: number): boolean {
    return now >= this.#nextTickAt
  }

  /**
   * The tick: account one tick of fiber's quantum and say whether it must make
   * way. It decides only; preempt() acts, after the fiber has unwound.
   */
  tick(fiber: Fiber, now: number): boolean {
    expectState(fiber, 'running', 'tick')
    this.#nextTickAt = now + this.#options.tickMs
    fiber.quantum--
    if (this.sliceOver(now)) return true
    if (this.#queue.highestPriority() > fiber.priority) return true
    return fiber.quantum <= 0 && this.#queue.size > 0
  }

  /** Requeue a fiber the tick took off the CPU: the head with quantum left, else demoted to the tail. */
  preempt(fiber: Fiber): void {
    expectState(fiber, 'running', 'preempt')
    fiber.state = 'ready'
    if (fiber.quantum > 0) {
      this.#queue.insertHead(fiber)
      return
    }
    fiber.quantum = this.#options.quantumTicks
    fiber.priority = PRIORITY_LOWEST
    this.#queue.insertTail(fiber)
  }

  /** The running fiber lets every other runnable fiber of its priority go first. */
  yield(fiber: Fiber): void {
    expectState(fiber, 'running', 'yield')
    fiber.state = 'ready'
    fiber.priority = fiber.basePriority
    this.#queue.insertTail(fiber)
  }

  /** The running fiber blocks; whoever wakes it admits it again. */
  block(fiber: Fiber): void {
    expectState(fiber, 'running', 'block')
    fiber.state = 'blocked'
    fiber.priority = fiber.basePriority
  }
}
