// SPDX-License-Identifier: MIT
/**
 * scheduler.ts - the littlekernel-style scheduler of fibers: the one object host
 * ops and the runtime use, wired from six parts, one concern each:
 *
 *   policy.ts      who runs next and for how long: tick, quantum, requeue, demotion
 *   trampoline.ts  entering and stopping fibers: asyncify-trampoline.ts or jspi-trampoline.ts
 *   lifecycle.ts   create, exit with TLS destructors, join and detach
 *   calls.ts       JS calls and workers, and the promises they settle
 *   event-loop.ts  the run loop on the JS thread, timers, idling, deadlock detection
 *   teardown.ts    fail and close
 *
 * This file holds what joins them: blocking on and waking from wait queues, the
 * preemption tick's path from the fuel check to the policy, and switchTo(),
 * which runs a dispatched fiber and does what its way of stopping calls for.
 *
 * Limits: one wasm instance per scheduler; a fiber that never reaches a loop
 * header or host op cannot be preempted.
 */
import type { CallOutcome } from './call-outcome.js'
import { Calls } from './calls.js'
import { EventLoop } from './event-loop.js'
import { type Fiber, type FiberRoot, PRIORITY_HIGHEST } from './fiber.js'
import { Heap, type HeapState } from './heap.js'
import { expectState, invariant } from './invariant.js'
import { Lifecycle, type LifecycleState, type SpawnOptions } from './lifecycle.js'
import { RunPolicy } from './policy.js'
import { Teardown } from './teardown.js'
import type { TimerEntry } from './timer-list.js'
import type { Asyncify } from './asyncify.js'
import { AsyncifyTrampoline } from './asyncify-trampoline.js'
import { JspiTrampoline } from './jspi-trampoline.js'
import { Later } from './later.js'
import { type FiberMachine, type Outcome, SUSPEND, type Suspended, type Trampoline, type TrampolineState } from './trampoline.js'
import type { WaitQueue } from './wait-queue.js'

export { FiberExit, RootReturn, SUSPEND, type Suspended, noValue } from './trampoline.js'
export type { SpawnOptions } from './lifecycle.js'

export interface SchedulerOptions {
  /** C stack of each fiber, bytes. */
  stackSize: number
  /** Asyncify buffer of each fiber, bytes: bounds how deep a fiber may be when it blocks (asyncify only). */
  bufferSize: number
  /** Period of the scheduler tick. */
  tickMs: number
  /** Ticks a fiber may run before others of its priority get a turn. */
  quantumTicks: number
  /** Longest stretch of work before returning to the JS event loop. */
  hostSliceMs: number
  /** Loop iterations between two reads of the clock. */
  fuel: number
  /** Called once when the runtime fails (a trap, a panic, a deadlock, misuse). */
  onFailure?: (error: Error) => void
}

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = {
  stackSize: 64 * 1024,
  bufferSize: 16 * 1024,
  tickMs: 5,
  quantumTicks: 4,
  hostSliceMs: 10,
  fuel: 20_000,
}

/**
 * A scheduler at rest as plain data (a boot snapshot keeps it): its clock, heap
 * and blocked threads. Armed timers and wait queues are their owners' to keep.
 */
export interface SchedulerState {
  /** The scheduler's clock when it was saved, ms: a scheduler that loads it goes on from there. */
  readonly clockMs: number
  readonly heap: HeapState
  readonly lifecycle: LifecycleState
  readonly trampoline: TrampolineState
}

/** What the scheduler needs of a module built by scripts/build-wasm.ts. */
export interface SchedulerModule extends FiberMachine {
  heapBase: number
  hostEntry: (fn: number, arg: number) => unknown
  /** The module's asyncify, or null for a module without it, whose fibers run on JSPI. */
  asyncify: Asyncify | null
}

export class Scheduler {
  readonly options: SchedulerOptions
  readonly heap: Heap
  readonly #hostEntry: FiberRoot['fn']
  readonly #policy: RunPolicy
  readonly #trampoline: Trampoline
  readonly #lifecycle: Lifecycle
  readonly #calls: Calls
  readonly #events: EventLoop
  readonly #teardown: Teardown
  #externalWaits = 0
  /** Added to the host's clock: 0, or what makes a loaded scheduler's clock go on from its saved one. */
  #clockOffset = 0

  constructor(module: SchedulerModule, options: Partial<SchedulerOptions> = {}) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options }
    this.heap = new Heap(module.memory, module.heapBase)
    this.#hostEntry = module.hostEntry as FiberRoot['fn']
    this.#policy = new RunPolicy(this.options)
    this.#trampoline = module.asyncify === null
      ? new JspiTrampoline(module, this.options.fuel)
      : new AsyncifyTrampoline(module, module.asyncify, this.options.fuel)
    this.#lifecycle = new Lifecycle(this.heap, this.#trampoline, this.#hostEntry, this.options, {
      wait: (fiber, queue) => this.wait(fiber, queue),
      wakeOne: (queue, value) => this.wakeOne(queue, value),
      wakeAll: (queue, value) => this.wakeAll(queue, value),
      exited: (fiber) => this.#calls.exited(fiber),
    })
    this.#calls = new Calls({
      failure: () => this.failure,
      create: (spawn) => this.#lifecycle.create(spawn),
      makeRunnable: (fiber) => this.#makeRunnable(fiber),
      dispatchCall: (fiber) => this.#dispatchCall(fiber),
      startExit: (fiber) => this.#lifecycle.startExit(fiber),
      fibers: () => this.#lifecycle.all(),
    })
    this.#events = new EventLoop(this.#policy, {
      now: () => this.now(),
      failed: () => this.failure !== null,
      fail: (error) => this.fail(error),
      runFiber: (fiber) => this.#switchTo(fiber),
      callersWaiting: () => this.callersWaiting,
      externalWaits: () => this.#externalWaits,
      stopping: () => this.#teardown.stopping,
      blocked: () => this.#lifecycle.blocked(),
    })
    this.#teardown = new Teardown({
      events: this.#events, calls: this.#calls, lifecycle: this.#lifecycle, onFailure: this.options.onFailure,
    })
  }

  /** The scheduler's clock, ms: the kernel's monotonic time and every deadline. */
  now(): number {
    return performance.now() + this.#clockOffset
  }

  /** The fiber running now; host ops are only ever called from one. */
  get current(): Fiber {
    return this.#trampoline.current
  }

  /** Whether the caller is inside a running fiber (a host op), not the scheduler or the event loop. */
  get inFiber(): boolean {
    return this.#trampoline.inFiber
  }

  get failure(): Error | null {
    return this.#teardown.failure
  }

  /** The most asyncify buffer bytes one unwind used, by fiber name (exited fibers included). */
  get bufferHighWater(): ReadonlyMap<string, number> {
    return this.#trampoline.bufferHighWater
  }

  // ---- threads ------------------------------------------------------------------

  /** Live fibers and exited ones nobody has joined yet. */
  fiber(id: number): Fiber | undefined {
    return this.#lifecycle.get(id)
  }

  /** The id of the most recent fiber: ids are never reused. */
  get lastFiberId(): number {
    return this.#lifecycle.lastId
  }

  get liveFibers(): number {
    return this.#lifecycle.live
  }

  /** JS callers waiting for a fiber: they keep the process alive, and make an idle scheduler a deadlock. */
  get callersWaiting(): number {
    return this.#calls.waiting
  }

  /** A new runnable fiber, or null when there is no memory for its stack. */
  spawn(options: SpawnOptions): Fiber | null {
    this.#teardown.throwIfFailed()
    const fiber = this.#lifecycle.create(options)
    if (fiber !== null) this.#makeRunnable(fiber)
    return fiber
  }

  /** Run fn(arg) through host_entry in a new detached fiber at the highest priority. */
  spawnCallback(name: string, fn: number, arg: number): Fiber | null {
    return this.spawn({ name, priority: PRIORITY_HIGHEST, detached: true, root: { fn: this.#hostEntry, args: [fn, arg] } })
  }

  /** Wait for target to exit: 0 when it has, -1 when it cannot be joined. */
  join(fiber: Fiber, target: Fiber): 0 | -1 | typeof SUSPEND {
    return this.#lifecycle.join(fiber, target)
  }

  detach(fiber: Fiber): void {
    this.#lifecycle.detach(fiber)
  }

  allocTlsKey(destructor: number): number {
    return this.#lifecycle.allocTlsKey(destructor)
  }

  freeTlsKey(key: number): boolean {
    return this.#lifecycle.freeTlsKey(key)
  }

  hasTlsKey(key: number): boolean {
    return this.#lifecycle.hasTlsKey(key)
  }

  // ---- JS calls and workers -------------------------------------------------------

  /** Run root on a new detached fiber and resolve with what it returns. */
  call(options: Omit<SpawnOptions, 'detached'>): Promise<unknown> {
    return this.#calls.call(options)
  }

  /**
   * A worker: a thread that runs one root after another (callOn), keeping its
   * identity and TLS in between. It ends when retired. Null when there is no
   * memory for its stack.
   */
  createWorker(options: Omit<SpawnOptions, 'root' | 'detached'>): Fiber | null {
    return this.#calls.createWorker(options)
  }

  /** Run root on an idle worker: settled at once when it ran on the caller's stack and did not block. */
  callOn(worker: Fiber, root: FiberRoot): CallOutcome {
    return this.#calls.callOn(worker, root)
  }

  /** End an idle worker: its TLS destructors run, then it exits. */
  retire(worker: Fiber): Promise<void> {
    return this.#calls.retire(worker)
  }

  // ---- used by the suspending host ops ----------------------------------------------

  /** Which fiber backend runs the fibers (trampoline.ts). */
  get fibers(): 'asyncify' | 'jspi' {
    return this.#trampoline.fibersInMemory ? 'asyncify' : 'jspi'
  }

  /** See Trampoline.suspendable: the frame of every suspending host op. */
  suspendable(body: (fiber: Fiber) => number | typeof SUSPEND): Suspended<number> {
    return this.#trampoline.suspendable(body)
  }

  /** Block fiber in queue until woken. */
  wait(fiber: Fiber, queue: WaitQueue): typeof SUSPEND {
    this.#policy.block(fiber)
    fiber.waitingIn = queue
    queue.waiters.push(fiber)
    return this.#trampoline.suspend(fiber, { kind: 'wait' })
  }

  /** Wake the longest waiter of queue with value; returns it, if any. */
  wakeOne(queue: WaitQueue, value: number): Fiber | undefined {
    const fiber = queue.waiters.shift()
    if (fiber !== undefined) this.#wake(fiber, value)
    return fiber
  }

  wakeAll(queue: WaitQueue, value: number): number {
    const waiters = queue.waiters.splice(0)
    for (const fiber of waiters) this.#wake(fiber, value)
    return waiters.length
  }

  /** The current fiber lets others of its priority or higher run first. */
  yield(fiber: Fiber): typeof SUSPEND {
    return this.#trampoline.suspend(fiber, { kind: 'yield' })
  }

  /** Called when the preemption fuel runs out: refill it and, once per tick, run the tick. */
  preemptTick(fiber: Fiber): 0 | typeof SUSPEND {
    this.#trampoline.refillFuel()
    const now = this.now()
    if (!this.#policy.tickDue(now)) return 0
    // Timers first: a callback they spawn runs at the highest priority, which the tick must see.
    this.#events.fireDueTimers(now)
    return this.#policy.tick(fiber, now) ? this.#trampoline.suspend(fiber, { kind: 'preempted' }) : 0
  }

  // ---- timers ---------------------------------------------------------------------

  /** Arm a one-shot timer; fire runs in the scheduler (JS), not in a fiber. */
  addTimer(entry: TimerEntry): void {
    this.#events.addTimer(entry)
  }

  cancelTimer(entry: TimerEntry): boolean {
    return this.#events.cancelTimer(entry)
  }

  // ---- host I/O ---------------------------------------------------------------------

  /**
   * Host I/O the kernel waits on has started (a device request): until the
   * returned function is called, a kernel with nothing to run is waiting for it,
   * not deadlocked. Calling the function again does nothing.
   */
  beginExternalWait(): () => void {
    this.#externalWaits++
    let ended = false
    return () => {
      if (ended) return
      ended = true
      this.#externalWaits--
      // Whether the I/O woke a fiber or not, the loop looks again (and may find a deadlock now).
      this.#events.kick()
    }
  }

  get externalWaits(): number {
    return this.#externalWaits
  }

  // ---- boot snapshots ----------------------------------------------------------------

  /** Nothing runs or is runnable, nobody waits for a call, no host I/O is in flight. */
  get atRest(): boolean {
    return !this.inFiber && this.#policy.runnable === 0 && this.callersWaiting === 0 && this.#externalWaits === 0
      && this.failure === null
  }

  /** The state of a scheduler at rest; an UklklError says why when it cannot be saved. */
  save(): SchedulerState {
    invariant(this.atRest, null, 'a scheduler is saved at rest')
    return {
      clockMs: this.now(),
      heap: this.heap.save(),
      lifecycle: this.#lifecycle.save(),
      trampoline: this.#trampoline.save(),
    }
  }

  /**
   * Take over a saved scheduler's state, in a new runtime of the same module
   * whose memory gets the saved one's bytes: the clock goes on from the saved
   * clock, and the threads are blocked, each to be put back in its wait queue
   * (putBack) by whoever owns the queue.
   */
  load(state: SchedulerState): void {
    this.#clockOffset = state.clockMs - performance.now()
    this.heap.load(state.heap)
    this.#trampoline.load(state.trampoline)
    this.#lifecycle.load(state.lifecycle)
  }

  /** Put loaded threads back in queue, in their saved order. */
  putBack(queue: WaitQueue, ids: readonly number[]): void {
    for (const id of ids) {
      const fiber = this.#lifecycle.get(id)
      invariant(fiber !== undefined && fiber.state === 'blocked' && fiber.waitingIn === null, fiber ?? null,
        'a thread goes back into one wait queue, blocked')
      fiber.waitingIn = queue
      queue.waiters.push(fiber)
    }
  }

  // ---- teardown -------------------------------------------------------------------

  /** The owner is ending the runtime: blocked callers wait for close(), they are not a deadlock. */
  beginStop(): void {
    this.#teardown.beginStop()
  }

  /** Stop for good: pending calls fail with error, timers are dropped. */
  fail(error: Error): void {
    this.#teardown.fail(error)
  }

  /**
   * Stop for good and end every fiber, whatever it was doing: pending calls fail
   * with error, armed timers are dropped, stacks and buffers go back to the heap.
   */
  close(error: Error): void {
    this.#teardown.close(error)
  }

  // ---- what joins the parts ----------------------------------------------------------

  #makeRunnable(fiber: Fiber): void {
    this.#policy.admit(fiber)
    this.#events.kick()
  }

  /**
   * A JS call's fiber: when the CPU is free (nothing else runnable) it runs now, on
   * the caller's stack, and a call that does not block has settled on return;
   * otherwise it waits its turn in the loop.
   */
  #dispatchCall(fiber: Fiber): void {
    this.#policy.admit(fiber)
    if (this.#policy.runnable === 1) this.#events.runNow()
    else this.#events.kick()
  }

  #wake(fiber: Fiber, value: number): void {
    expectState(fiber, 'blocked', 'wake')
    fiber.waitingIn = null
    fiber.wakeValue = value
    this.#makeRunnable(fiber)
  }

  /**
   * Run a dispatched fiber until it stops, and do what its way of stopping calls
   * for; when the fiber runs on JSPI, a Later settled once that is done (a
   * worker's caller has its answer then, before the run loop goes on).
   */
  #switchTo(fiber: Fiber): void | Later<void> {
    const outcome = this.#trampoline.run(fiber)
    if (!(outcome instanceof Later)) return this.#stopped(fiber, outcome)
    const done = new Later<void>()
    outcome.subscribe((stopped) => {
      let more: void | Later<void>
      try {
        more = this.#stopped(fiber, stopped)
      } catch (error) {
        done.fail(error)
        return
      }
      if (more === undefined) done.settle()
      else more.subscribe(() => done.settle(), (error) => done.fail(error))
    }, (error) => done.fail(error))
    return done
  }

  #stopped(fiber: Fiber, outcome: Outcome): void | Later<void> {
    switch (outcome.kind) {
      case 'suspended':
        // A waiting fiber is in its wait queue already; the others go back to the run queue.
        if (outcome.reason === 'preempted') this.#policy.preempt(fiber)
        else if (outcome.reason === 'yield') this.#policy.yield(fiber)
        return
      case 'returned':
        if (fiber.worker && !fiber.exiting) {
          this.#calls.finishCall(fiber, outcome.result)
          return
        }
        if (!fiber.exiting) {
          fiber.exiting = true
          fiber.result = outcome.result
        }
        break
      case 'exited':
        fiber.exiting = true
        break
    }
    // Exiting: run the next TLS destructor in the fiber at once, or it is gone.
    return this.#lifecycle.startExit(fiber) ? this.#switchTo(fiber) : undefined
  }
}
