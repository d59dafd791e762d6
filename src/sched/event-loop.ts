// SPDX-License-Identifier: MIT
/**
 * event-loop.ts - how the scheduler shares the JS thread: the run loop, timers,
 * idling, and the deadlock detector.
 *
 * kick() starts the run loop in a microtask; runNow() runs it on the caller's
 * stack, for a JS call made while no loop of any runtime in the process is
 * running. The loop fires due timers and runs fibers, highest priority first,
 * for at most one host slice; then it lets the event loop's timers and I/O run
 * (setImmediate) and carries on. With nothing runnable it idles: a Node timer
 * wakes it at the next timer's deadline, and wake-ups (a call, a timer armed)
 * kick it again. A fiber on JSPI runs in microtasks of its own: the loop hands
 * it the CPU, stays running (no other loop starts), and goes on in a microtask
 * once the fiber has stopped, in the same slice.
 *
 * Deadlock: idle, no timer armed, no host I/O in flight, yet JS callers wait for
 * fibers - and still so once the JS that was running has finished (a
 * setImmediate later: a call that blocks may be answered by the caller's next
 * one). Nothing can then wake those fibers (only fibers, timers and the
 * completion of host I/O wake fibers), so the runtime fails with a DeadlockError
 * listing each blocked fiber and what it waits on - unless the owner is stopping
 * the runtime, whose close() will reject those callers.
 *
 * Limits: on asyncify the loop keeps the JS thread until a fiber stops (see trampoline.ts);
 * an idle runtime with no waiting caller does not keep the process alive.
 */
import { type BlockedFiber, DeadlockError, UklklError } from '../errors.js'
import type { Fiber } from './fiber.js'
import type { Later } from './later.js'
import type { RunPolicy } from './policy.js'
import { type TimerEntry, TimerList } from './timer-list.js'

/** What the loop needs of the rest of the scheduler. */
export interface EventLoopHooks {
  now(): number
  failed(): boolean
  fail(error: Error): void
  /** Run a dispatched fiber until it stops; a Later when it runs on JSPI, settled once it has stopped. */
  runFiber(fiber: Fiber): void | Later<void>
  /** JS callers waiting for a fiber. */
  callersWaiting(): number
  /** Host I/O in flight that the kernel waits on (a device request): its completion wakes fibers. */
  externalWaits(): number
  /** The owner is ending the runtime (close() follows): blocked callers are expected, not a deadlock. */
  stopping(): boolean
  blocked(): BlockedFiber[]
}

/** Loops of any runtime in this process now on the JS stack: runNow() nests in none. */
let loopsRunning = 0

export class EventLoop {
  readonly #policy: RunPolicy
  readonly #hooks: EventLoopHooks
  readonly #timers = new TimerList()
  #running = false
  #kickQueued = false
  #wakeTimer: ReturnType<typeof setTimeout> | null = null
  /** When the armed wake timer is due (the scheduler's clock). */
  #wakeAt = 0
  #deadlockCheck: ReturnType<typeof setImmediate> | null = null

  constructor(policy: RunPolicy, hooks: EventLoopHooks) {
    this.#policy = policy
    this.#hooks = hooks
  }

  /** Make sure the loop runs soon: something may have become runnable or due. */
  kick(): void {
    if (this.#running || this.#kickQueued || this.#hooks.failed()) return
    this.#kickQueued = true
    this.#clearWakeTimer()
    queueMicrotask(() => {
      this.#kickQueued = false
      this.#run()
    })
  }

  /**
   * Run the loop now, on the caller's stack, when the caller is plain JS: no loop
   * (of this runtime or another) is running. Otherwise the same as kick().
   */
  runNow(): void {
    if (loopsRunning > 0 || this.#hooks.failed()) {
      this.kick()
      return
    }
    this.#run()
  }

  /** Arm a one-shot timer; fire runs in the loop (JS), not in a fiber. */
  addTimer(entry: TimerEntry): void {
    this.#timers.insert(entry)
    this.kick()
  }

  cancelTimer(entry: TimerEntry): boolean {
    return this.#timers.cancel(entry)
  }

  fireDueTimers(now: number): void {
    if ((this.#timers.nextDeadline() ?? Infinity) > now) return
    for (const entry of this.#timers.takeDue(now)) entry.fire()
  }

  /** Stop waking up: the runtime has failed. */
  stop(): void {
    this.#clearWakeTimer()
    if (this.#deadlockCheck !== null) clearImmediate(this.#deadlockCheck)
    this.#deadlockCheck = null
  }

  /** Forget every armed timer: the runtime is closed. */
  dropTimers(): void {
    this.#timers.takeDue(Infinity)
  }

  #run(): void {
    if (this.#running || this.#hooks.failed()) return
    this.#running = true
    loopsRunning++
    // One clock read serves the slice and the loop's first turn: a fast syscall's whole run costs a few.
    const now = this.#hooks.now()
    this.#policy.startSlice(now)
    this.#loop(now)
  }

  /**
   * The loop's body, from the start of a slice or after a JSPI fiber stopped: a
   * fiber that runs on JSPI stops later, and the loop goes on from here then,
   * still running and in the same slice. start: the clock, when the caller has just read it.
   */
  #loop(start?: number): void {
    let waiting = false
    try {
      let now = start ?? this.#hooks.now()
      for (;;) {
        this.fireDueTimers(now)
        // A timer's callback or the last fiber may have failed the runtime: nothing more runs.
        if (this.#hooks.failed()) return
        if (this.#policy.runnable === 0) break
        if (this.#policy.sliceOver(now)) {
          setImmediate(() => this.#run())
          return
        }
        const stopped = this.#hooks.runFiber(this.#policy.next(now))
        if (stopped !== undefined) {
          waiting = true
          // Settled maybe from inside the fiber's own host op: the loop goes on from a microtask, off its stack.
          stopped.subscribe(() => queueMicrotask(() => this.#loop()), (error: unknown) => {
            this.#stopRunning()
            this.#fail(error)
          })
          return
        }
        now = this.#hooks.now()
      }
      this.#idle()
    } catch (error) {
      this.#fail(error)
    } finally {
      if (!waiting) this.#stopRunning()
    }
  }

  #stopRunning(): void {
    this.#running = false
    loopsRunning--
  }

  #fail(error: unknown): void {
    this.#hooks.fail(error instanceof Error ? error : new UklklError('the scheduler caught a non-Error', { cause: error }))
  }

  #idle(): void {
    const next = this.#timers.nextDeadline()
    if (next !== undefined) {
      // The same deadline as the armed wake-up (calls on the fast path come and go between two ticks): keep it.
      if (this.#wakeTimer === null || this.#wakeAt !== next) {
        this.#clearWakeTimer()
        this.#wakeAt = next
        this.#wakeTimer = setTimeout(() => {
          this.#wakeTimer = null
          this.#run()
        }, Math.max(0, next - this.#hooks.now()))
      }
      // Only callers waiting on us keep the process alive; an idle kernel does not.
      if (this.#hooks.callersWaiting() === 0) this.#wakeTimer.unref()
      else this.#wakeTimer.ref()
      return
    }
    this.#clearWakeTimer()
    if (!this.#stuck() || this.#deadlockCheck !== null) return
    this.#deadlockCheck = setImmediate(() => {
      this.#deadlockCheck = null
      if (!this.#running && this.#policy.runnable === 0 && this.#timers.nextDeadline() === undefined && this.#stuck()) {
        this.#hooks.fail(new DeadlockError(this.#hooks.blocked()))
      }
    })
  }

  /** Callers wait, and no host I/O in flight can wake their fibers. */
  #stuck(): boolean {
    return this.#hooks.callersWaiting() > 0 && !this.#hooks.stopping() && this.#hooks.externalWaits() === 0
      && !this.#hooks.failed()
  }

  #clearWakeTimer(): void {
    if (this.#wakeTimer !== null) clearTimeout(this.#wakeTimer)
    this.#wakeTimer = null
  }
}
