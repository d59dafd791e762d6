// SPDX-License-Identifier: MIT
/**
 * scheduler.ts - the littlekernel-style scheduler of fibers and its one trampoline.
 *
 * Policy: 32 priorities with a FIFO each; the highest runnable fiber runs. A
 * periodic tick (read from the clock whenever the preemption fuel runs out) only
 * decides whether to reschedule; preempt() is the one place that acts on it. A
 * fiber that uses up its quantum drops to the lowest priority until it next blocks
 * or yields, so a spinning fiber cannot lock lower priorities out.
 *
 * Mechanism: run() is the only loop that starts and rewinds fibers. A fiber that
 * blocks unwinds (asyncify) back into runFiber(), which keeps its stack pointer and
 * does what the blocking op asked (wait, requeue, snapshot a jump point). Leaving a
 * fiber for good (thread_exit, longjmp) throws through its wasm frames instead:
 * its stack is abandoned or restored, never unwound.
 *
 * Event loop: run() returns to the JS event loop after hostSliceMs of continuous
 * work, and when nothing is runnable it sleeps until the next timer or the next
 * call. If callers are waiting while nothing can ever run again, they fail with a
 * DeadlockError listing each blocked fiber.
 *
 * Limits: one wasm instance per scheduler; a fiber that never reaches a loop
 * header or host op cannot be preempted.
 */
import {
  AsyncifyOverflowError, DeadlockError, FiberTrapError, RuntimeFailedError, StackOverflowError, UklklError,
} from '../errors.js'
import { Asyncify, AsyncifyState } from './asyncify.js'
import {
  type AfterUnwind, Fiber, type FiberRoot, PRIORITY_DEFAULT, PRIORITY_HIGHEST, PRIORITY_LOWEST,
} from './fiber.js'
import { Heap } from './heap.js'
import { RunQueue } from './run-queue.js'
import { type TimerEntry, TimerList } from './timer-list.js'
import { WaitQueue } from './wait-queue.js'

/** Returned by a host op's body to say "the current fiber is to be unwound". */
export const SUSPEND: unique symbol = Symbol('suspend')

export interface SchedulerOptions {
  /** C stack of each fiber, bytes. */
  stackSize: number
  /** Asyncify buffer of each fiber, bytes: bounds how deep a fiber may be when it blocks. */
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

/** What the scheduler needs of a module built by scripts/build-wasm.ts. */
export interface SchedulerModule {
  memory: WebAssembly.Memory
  stackPointer: WebAssembly.Global
  heapBase: number
  asyncify: Asyncify
  /** The preemption fuel global, when the module is instrumented. */
  fuel: WebAssembly.Global | null
  hostEntry: (fn: number, arg: number) => unknown
}

export interface SpawnOptions {
  name: string
  root: FiberRoot
  priority?: number
  stackSize?: number
  bufferSize?: number
  detached?: boolean
}

/** Thrown through a fiber's wasm frames to end it (thread_exit). */
export class FiberExit {}

/** Thrown through a fiber's wasm frames to return to a jump point (longjmp). */
export class LongJump {
  constructor(readonly serial: number, readonly value: number) {}
}

const STACK_CANARY = 0x5ac4_ca7e
const ASYNCIFY_HEADER = 8
/** POSIX's PTHREAD_DESTRUCTOR_ITERATIONS: rounds of TLS destructors at thread exit. */
const DESTRUCTOR_ROUNDS = 4

interface PendingCall {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

export class Scheduler {
  readonly options: SchedulerOptions
  readonly heap: Heap
  readonly #module: SchedulerModule
  readonly #fibers = new Map<number, Fiber>()
  readonly #runQueue = new RunQueue()
  readonly #timers = new TimerList()
  readonly #pending = new Map<Fiber, PendingCall>()
  /** The most asyncify buffer bytes one unwind used, by fiber name (exited fibers included). */
  readonly bufferHighWater = new Map<string, number>()
  /** Fibers waiting to join each fiber. */
  readonly #joinQueues = new Map<Fiber, WaitQueue>()
  /** TLS destructors by key, in allocation order (0: none). */
  readonly #tlsKeys = new Map<number, number>()
  #nextFiberId = 1
  #nextTlsKey = 1
  #nextJumpSerial = 1
  #current: Fiber | null = null
  #running = false
  #kickQueued = false
  #wakeTimer: ReturnType<typeof setTimeout> | null = null
  #failure: Error | null = null
  #nextTickAt = 0
  #sliceEnd = 0

  constructor(module: SchedulerModule, options: Partial<SchedulerOptions> = {}) {
    this.#module = module
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options }
    this.heap = new Heap(module.memory, module.heapBase)
  }

  now(): number {
    return performance.now()
  }

  /** The fiber running now; host ops are only ever called from one. */
  get current(): Fiber {
    if (this.#current === null) throw new Error('no fiber is running: a host op was called from outside the scheduler')
    return this.#current
  }

  get failure(): Error | null {
    return this.#failure
  }

  /** Live fibers and exited ones nobody has joined yet. */
  fiber(id: number): Fiber | undefined {
    return this.#fibers.get(id)
  }

  /** The id of the most recent fiber: ids are never reused. */
  get lastFiberId(): number {
    return this.#nextFiberId - 1
  }

  get liveFibers(): number {
    let n = 0
    for (const f of this.#fibers.values()) if (f.state !== 'exited') n++
    return n
  }

  /** A new runnable fiber, or null when there is no memory for its stack. */
  spawn(options: SpawnOptions): Fiber | null {
    this.#throwIfFailed()
    const stackSize = options.stackSize ?? this.options.stackSize
    const bufferSize = options.bufferSize ?? this.options.bufferSize
    const stack = this.heap.alloc(stackSize)
    const buffer = stack === 0 ? 0 : this.heap.alloc(bufferSize)
    if (buffer === 0) {
      if (stack !== 0) this.heap.free(stack)
      return null
    }
    const fiber = new Fiber(this.#nextFiberId++, options.name, options.priority ?? PRIORITY_DEFAULT,
      options.root, stack, stackSize, buffer, bufferSize)
    fiber.detached = options.detached ?? false
    new DataView(this.#module.memory.buffer).setUint32(stack, STACK_CANARY, true)
    this.#fibers.set(fiber.id, fiber)
    this.#runQueue.insertTail(fiber)
    this.#kick()
    return fiber
  }

  /** Run root on a new detached fiber and resolve with what it returns. */
  call(options: Omit<SpawnOptions, 'detached'>): Promise<unknown> {
    if (this.#failure !== null) return Promise.reject(new RuntimeFailedError(this.#failure))
    return new Promise((resolve, reject) => {
      const fiber = this.spawn({ ...options, detached: true })
      if (fiber === null) reject(new UklklError(`no memory for the stack of fiber ${options.name}`))
      else this.#pending.set(fiber, { resolve, reject })
    })
  }

  /**
   * A worker: a thread that runs one root after another (callOn), keeping its
   * identity and TLS in between, like a host thread making one syscall after
   * another. It ends when retired. Null when there is no memory for its stack.
   */
  createWorker(options: Omit<SpawnOptions, 'root' | 'detached'>): Fiber | null {
    const idle: FiberRoot = { fn: () => undefined, args: [] }
    const fiber = this.spawn({ ...options, root: idle, detached: true })
    if (fiber === null) return null
    // spawn() queued it to run; a worker waits for its first call instead.
    this.#runQueue.remove(fiber)
    fiber.worker = true
    fiber.state = 'idle'
    return fiber
  }

  /** Run root on an idle worker; resolves with what root returns. */
  callOn(worker: Fiber, root: FiberRoot): Promise<unknown> {
    if (this.#failure !== null) return Promise.reject(new RuntimeFailedError(this.#failure))
    this.#expectState(worker, 'idle', 'call on')
    worker.root = root
    worker.started = false
    worker.sp = worker.stackTop
    return new Promise((resolve, reject) => {
      this.#pending.set(worker, { resolve, reject })
      worker.state = 'ready'
      this.#runQueue.insertTail(worker)
      this.#kick()
    })
  }

  /** End an idle worker: its TLS destructors run, then it exits. */
  retire(worker: Fiber): Promise<void> {
    if (this.#failure !== null) return Promise.reject(new RuntimeFailedError(this.#failure))
    this.#expectState(worker, 'idle', 'retire')
    worker.retiring = true
    worker.exiting = true
    return new Promise((resolve, reject) => {
      this.#pending.set(worker, { resolve: () => resolve(), reject })
      if (this.#startExit(worker)) {
        worker.state = 'ready'
        this.#runQueue.insertTail(worker)
        this.#kick()
      }
    })
  }

  // ---- used by the suspending host ops ---------------------------------------

  /**
   * The frame of every suspending host op: on the rewind that resumes the fiber it
   * returns the fiber's wake value; otherwise it runs body, and if body says
   * SUSPEND it starts unwinding the fiber (the value returned then is ignored).
   */
  suspendable(body: (fiber: Fiber) => number | typeof SUSPEND): number {
    const asyncify = this.#module.asyncify
    const fiber = this.current
    if (asyncify.state === AsyncifyState.Rewinding) {
      asyncify.stopRewind()
      return fiber.wakeValue
    }
    const result = body(fiber)
    if (result !== SUSPEND) return result
    const view = new DataView(this.#module.memory.buffer)
    view.setUint32(fiber.buffer, fiber.buffer + ASYNCIFY_HEADER, true)
    view.setUint32(fiber.buffer + 4, fiber.buffer + fiber.bufferSize, true)
    asyncify.startUnwind(fiber.buffer)
    return 0
  }

  /** Block fiber in queue until woken. */
  wait(fiber: Fiber, queue: WaitQueue): typeof SUSPEND {
    this.#expectState(fiber, 'running', 'wait')
    fiber.state = 'blocked'
    fiber.priority = fiber.basePriority
    fiber.waitingIn = queue
    queue.waiters.push(fiber)
    return this.#suspend(fiber, { kind: 'wait' })
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
    return this.#suspend(fiber, { kind: 'yield' })
  }

  /** Called when the preemption fuel runs out: refill it and, once per tick, run the tick. */
  preemptTick(fiber: Fiber): 0 | typeof SUSPEND {
    this.#refillFuel()
    const now = this.now()
    if (now < this.#nextTickAt) return 0
    return this.#tick(fiber, now) ? this.#suspend(fiber, { kind: 'preempted' }) : 0
  }

  /** Save fiber's state for longjmp under a new or given serial (see host-ops/jump.ts). */
  setjmp(fiber: Fiber, serial: number): typeof SUSPEND {
    return this.#suspend(fiber, { kind: 'setjmp', jb: serial })
  }

  newJumpSerial(): number {
    return this.#nextJumpSerial++
  }

  /** Wait for target to exit: 0 when it has, -1 when it cannot be joined. */
  join(fiber: Fiber, target: Fiber): 0 | -1 | typeof SUSPEND {
    if (target === fiber || target.detached) return -1
    if (target.state === 'exited') {
      this.#fibers.delete(target.id)
      return 0
    }
    return this.wait(fiber, this.#joinQueue(target))
  }

  detach(fiber: Fiber): void {
    fiber.detached = true
    const queue = this.#joinQueues.get(fiber)
    if (queue !== undefined) this.wakeAll(queue, -1)
  }

  allocTlsKey(destructor: number): number {
    const key = this.#nextTlsKey++
    this.#tlsKeys.set(key, destructor)
    return key
  }

  freeTlsKey(key: number): boolean {
    if (!this.#tlsKeys.delete(key)) return false
    for (const fiber of this.#fibers.values()) fiber.tls.delete(key)
    return true
  }

  hasTlsKey(key: number): boolean {
    return this.#tlsKeys.has(key)
  }

  // ---- timers ----------------------------------------------------------------

  /** Arm a one-shot timer; fire runs in the scheduler (JS), not in a fiber. */
  addTimer(entry: TimerEntry): void {
    this.#timers.insert(entry)
    this.#kick()
  }

  cancelTimer(entry: TimerEntry): boolean {
    return this.#timers.cancel(entry)
  }

  /** Run fn(arg) through host_entry in a new detached fiber at the highest priority. */
  spawnCallback(name: string, fn: number, arg: number): Fiber | null {
    return this.spawn({
      name, priority: PRIORITY_HIGHEST, detached: true,
      root: { fn: this.#module.hostEntry as FiberRoot['fn'], args: [fn, arg] },
    })
  }

  /** Stop for good: pending calls fail with error, timers are dropped. */
  fail(error: Error): void {
    if (this.#failure !== null) return
    this.#failure = error
    this.#clearWakeTimer()
    for (const call of this.#pending.values()) call.reject(error)
    this.#pending.clear()
    this.options.onFailure?.(error)
  }

  /**
   * Stop for good and end every fiber, whatever it was doing: pending calls fail
   * with error, armed timers are dropped, stacks and buffers go back to the heap.
   */
  close(error: Error): void {
    this.fail(error)
    this.#timers.takeDue(Infinity)
    for (const fiber of this.#fibers.values()) {
      if (fiber.state === 'exited') continue
      fiber.state = 'exited'
      this.heap.free(fiber.stackBase)
      this.heap.free(fiber.buffer)
    }
    this.#fibers.clear()
  }

  // ---- the trampoline ----------------------------------------------------------

  #kick(): void {
    if (this.#running || this.#kickQueued || this.#failure !== null) return
    this.#kickQueued = true
    this.#clearWakeTimer()
    queueMicrotask(() => {
      this.#kickQueued = false
      this.#run()
    })
  }

  #run(): void {
    if (this.#running || this.#failure !== null) return
    this.#running = true
    this.#sliceEnd = this.now() + this.options.hostSliceMs
    try {
      for (;;) {
        this.#fireDueTimers(this.now())
        if (this.#runQueue.size === 0) break
        if (this.now() >= this.#sliceEnd) {
          // Let the event loop's timers and I/O run, then carry on.
          setImmediate(() => this.#run())
          return
        }
        this.#runFiber(this.#runQueue.popHighest()!)
      }
      this.#idle()
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)))
    } finally {
      this.#running = false
    }
  }

  #runFiber(fiber: Fiber): void {
    const asyncify = this.#module.asyncify
    this.#current = fiber
    fiber.state = 'running'
    if (fiber.quantum <= 0) fiber.quantum = this.options.quantumTicks
    try {
      for (;;) {
        this.#module.stackPointer.value = fiber.sp
        if (fiber.started) asyncify.startRewind(fiber.buffer)
        fiber.started = true
        this.#refillFuel()
        this.#nextTickAt = this.now() + this.options.tickMs
        let result: unknown
        try {
          result = fiber.root.fn(...fiber.root.args)
        } catch (thrown) {
          if (thrown instanceof LongJump) {
            this.#restoreJumpPoint(fiber, thrown)
            continue
          }
          if (!(thrown instanceof FiberExit)) throw this.#explainThrow(fiber, thrown)
          this.#checkStack(fiber)
          fiber.exiting = true
          if (this.#startExit(fiber)) continue
          return
        }
        this.#checkStack(fiber)
        if (asyncify.state === AsyncifyState.Unwinding) {
          const used = new DataView(this.#module.memory.buffer).getUint32(fiber.buffer, true) - fiber.buffer
          // Asyncify checks the bound only here, after the unwind has written past it:
          // the memory behind the buffer is lost, so the runtime must stop now.
          if (used > fiber.bufferSize) throw new AsyncifyOverflowError(fiber.toString(), fiber.bufferSize)
          asyncify.stopUnwind()
          fiber.sp = this.#module.stackPointer.value as number
          fiber.bufferHighWater = Math.max(fiber.bufferHighWater, used)
          this.bufferHighWater.set(fiber.name, Math.max(this.bufferHighWater.get(fiber.name) ?? 0, used))
          if (this.#afterUnwind(fiber)) continue
          return
        }
        if (fiber.worker && !fiber.exiting) {
          this.#settle(fiber, result)
          fiber.state = 'idle'
          return
        }
        if (!fiber.exiting) {
          fiber.exiting = true
          fiber.result = result
        }
        if (this.#startExit(fiber)) continue
        return
      }
    } finally {
      this.#current = null
    }
  }

  /** Do what the op that suspended fiber asked; true to resume it at once. */
  #afterUnwind(fiber: Fiber): boolean {
    const after = fiber.afterUnwind!
    fiber.afterUnwind = null
    switch (after.kind) {
      case 'wait':
        return false
      case 'preempted':
        this.#preempt(fiber)
        return false
      case 'yield':
        fiber.state = 'ready'
        fiber.priority = fiber.basePriority
        this.#runQueue.insertTail(fiber)
        return false
      case 'setjmp': {
        const end = new DataView(this.#module.memory.buffer).getUint32(fiber.buffer, true)
        const data = new Uint8Array(this.#module.memory.buffer, fiber.buffer, end - fiber.buffer).slice()
        fiber.jumpPoints.set(after.jb, { sp: fiber.sp, data })
        fiber.wakeValue = 0
        return true
      }
    }
  }

  #restoreJumpPoint(fiber: Fiber, jump: LongJump): void {
    const point = fiber.jumpPoints.get(jump.serial)!
    new Uint8Array(this.#module.memory.buffer).set(point.data, fiber.buffer)
    fiber.sp = point.sp
    fiber.wakeValue = jump.value
  }

  /**
   * The tick: account the quantum and decide whether the running fiber must make
   * way (event loop due, quantum used up while others wait, or a higher priority
   * runnable). It decides only; preempt() acts.
   */
  #tick(fiber: Fiber, now: number): boolean {
    this.#nextTickAt = now + this.options.tickMs
    this.#fireDueTimers(now)
    fiber.quantum--
    if (now >= this.#sliceEnd) return true
    if (this.#runQueue.highestPriority() > fiber.priority) return true
    return fiber.quantum <= 0 && this.#runQueue.size > 0
  }

  /** Requeue a preempted fiber: at the head with quantum left, else demoted to the tail. */
  #preempt(fiber: Fiber): void {
    fiber.state = 'ready'
    if (fiber.quantum > 0) {
      this.#runQueue.insertHead(fiber)
      return
    }
    fiber.quantum = this.options.quantumTicks
    fiber.priority = PRIORITY_LOWEST
    this.#runQueue.insertTail(fiber)
  }

  #suspend(fiber: Fiber, after: AfterUnwind): typeof SUSPEND {
    if (fiber.afterUnwind !== null) throw new Error(`${fiber} suspended twice in one host op`)
    fiber.afterUnwind = after
    return SUSPEND
  }

  /** Start the next TLS destructor as the fiber's root (true), or finish the exit (false). */
  #startExit(fiber: Fiber): boolean {
    for (let round = 0; round < DESTRUCTOR_ROUNDS; round++) {
      for (const [key, destructor] of this.#tlsKeys) {
        const value = fiber.tls.get(key) ?? 0
        if (destructor === 0 || value === 0) continue
        fiber.tls.delete(key)
        fiber.root = { fn: this.#module.hostEntry as FiberRoot['fn'], args: [destructor, value] }
        fiber.started = false
        fiber.sp = fiber.stackTop
        return true
      }
    }
    this.#finishExit(fiber)
    return false
  }

  #finishExit(fiber: Fiber): void {
    fiber.state = 'exited'
    fiber.tls.clear()
    fiber.jumpPoints.clear()
    this.heap.free(fiber.stackBase)
    this.heap.free(fiber.buffer)
    const joiners = this.#joinQueues.get(fiber)
    if (joiners !== undefined) {
      this.#joinQueues.delete(fiber)
      // One joiner reaps the fiber; any other gets -1, as the contract says.
      const first = joiners.waiters.shift()
      if (first !== undefined) this.#wake(first, 0)
      this.wakeAll(joiners, -1)
      if (first !== undefined) this.#fibers.delete(fiber.id)
    }
    if (fiber.detached) this.#fibers.delete(fiber.id)
    if (fiber.worker && !fiber.retiring) {
      // A worker ended by thread_exit in the middle of a call: that call has no result.
      this.#pending.get(fiber)?.reject(new UklklError(`${fiber} exited during a call`))
      this.#pending.delete(fiber)
      return
    }
    this.#settle(fiber, fiber.result)
  }

  /** Resolve the JS call waiting on fiber, if any. */
  #settle(fiber: Fiber, result: unknown): void {
    const call = this.#pending.get(fiber)
    if (call !== undefined) {
      this.#pending.delete(fiber)
      call.resolve(result)
    }
  }

  #joinQueue(target: Fiber): WaitQueue {
    let queue = this.#joinQueues.get(target)
    if (queue === undefined) {
      queue = new WaitQueue(() => `join of ${target}`)
      this.#joinQueues.set(target, queue)
    }
    return queue
  }

  #wake(fiber: Fiber, value: number): void {
    this.#expectState(fiber, 'blocked', 'wake')
    fiber.waitingIn = null
    fiber.wakeValue = value
    fiber.state = 'ready'
    this.#runQueue.insertTail(fiber)
    this.#kick()
  }

  #fireDueTimers(now: number): void {
    if ((this.#timers.nextDeadline() ?? Infinity) > now) return
    for (const entry of this.#timers.takeDue(now)) entry.fire()
  }

  #idle(): void {
    const next = this.#timers.nextDeadline()
    if (next !== undefined) {
      this.#wakeTimer = setTimeout(() => {
        this.#wakeTimer = null
        this.#run()
      }, Math.max(0, next - this.now()))
      // Only callers waiting on us keep the process alive; an idle kernel does not.
      if (this.#pending.size === 0) this.#wakeTimer.unref()
      return
    }
    if (this.#pending.size === 0) return
    const blocked = [...this.#fibers.values()]
      .filter((f) => f.state === 'blocked')
      .map((f) => ({ fiber: f.toString(), waitsOn: f.waitingIn?.describe() ?? 'nothing known' }))
    this.fail(new DeadlockError(blocked))
  }

  #clearWakeTimer(): void {
    if (this.#wakeTimer !== null) clearTimeout(this.#wakeTimer)
    this.#wakeTimer = null
  }

  #refillFuel(): void {
    if (this.#module.fuel !== null) this.#module.fuel.value = this.options.fuel
  }

  #checkStack(fiber: Fiber): void {
    if (new DataView(this.#module.memory.buffer).getUint32(fiber.stackBase, true) !== STACK_CANARY) {
      throw new StackOverflowError(fiber.toString(), fiber.stackSize)
    }
  }

  /** Turn what a fiber threw into the error that fails the runtime. */
  #explainThrow(fiber: Fiber, thrown: unknown): Error {
    if (thrown instanceof UklklError) return thrown
    try {
      this.#checkStack(fiber)
    } catch (overflow) {
      return overflow as Error
    }
    return new FiberTrapError(fiber.toString(), thrown)
  }

  #expectState(fiber: Fiber, state: Fiber['state'], action: string): void {
    if (fiber.state !== state) throw new Error(`cannot ${action} ${fiber}: it is ${fiber.state}, not ${state}`)
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw new RuntimeFailedError(this.#failure)
  }
}
