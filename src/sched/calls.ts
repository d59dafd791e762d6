// SPDX-License-Identifier: MIT
/**
 * calls.ts - JS calls into the wasm program and the workers that serve them.
 *
 * A call runs a root on a new detached fiber and settles its promise when the
 * fiber exits. A worker is a thread that runs one root after another (callOn),
 * keeping its identity and TLS in between, like a host thread making one
 * syscall after another: between calls it is idle, and retiring it runs its
 * TLS destructors in it before it exits. A worker's call made while the CPU is
 * free runs at once, on the caller's stack (the syscall fast path): one that
 * does not block has settled when callOn returns.
 *
 * Every promise here settles: with the root's result, with an error when the
 * fiber's call ends without one (thread_exit in a worker), or, through
 * rejectAll, with the error that stopped the runtime.
 */
import { RuntimeFailedError, UklklError } from '../errors.js'
import type { CallOutcome } from './call-outcome.js'
import type { Fiber, FiberCaller, FiberRoot } from './fiber.js'
import { expectState, invariant } from './invariant.js'
import type { SpawnOptions } from './lifecycle.js'

/** What the calls need of the rest of the scheduler. */
export interface CallHooks {
  /** The error that stopped the runtime, if it has stopped. */
  failure(): Error | null
  /** A new fiber in no queue, or null when there is no memory for its stack. */
  create(options: SpawnOptions): Fiber | null
  /** Put fiber in the run queue and get the scheduler going. */
  makeRunnable(fiber: Fiber): void
  /** The same for a worker's call, which may run at once, on the caller's stack. */
  dispatchCall(fiber: Fiber): void
  /** Go on with fiber's exit: true when a TLS destructor is to run in it first. */
  startExit(fiber: Fiber): boolean
  /** Every fiber not yet gone (those with a waiting caller among them). */
  fibers(): Iterable<Fiber>
}

/** Records how a fast-path call settled while dispatchCall ran; no promise exists yet. */
class SettledAtOnce implements FiberCaller {
  done = false
  value: unknown = undefined
  error: Error | null = null
  resolve(value: unknown): void {
    this.done = true
    this.value = value
  }

  reject(error: Error): void {
    this.done = true
    this.error = error
  }
}

/** A worker's root between calls; never run, since an idle worker is in no queue. */
const IDLE_ROOT: FiberRoot = { fn: () => undefined, args: [] }

export class Calls {
  readonly #hooks: CallHooks
  /** Fibers with a waiting caller (Fiber.caller). */
  #waiting = 0

  constructor(hooks: CallHooks) {
    this.#hooks = hooks
  }

  /** JS callers waiting for a fiber. */
  get waiting(): number {
    return this.#waiting
  }

  /** Run root on a new detached fiber and resolve with what it returns. */
  call(options: Omit<SpawnOptions, 'detached'>): Promise<unknown> {
    const failure = this.#hooks.failure()
    if (failure !== null) return Promise.reject(new RuntimeFailedError(failure))
    return new Promise((resolve, reject) => {
      const fiber = this.#hooks.create({ ...options, detached: true })
      if (fiber === null) {
        reject(new UklklError(`no memory for the stack of fiber ${options.name}`))
        return
      }
      this.#wait(fiber, { resolve, reject })
      this.#hooks.makeRunnable(fiber)
    })
  }

  /** An idle worker, or null when there is no memory for its stack. */
  createWorker(options: Omit<SpawnOptions, 'root' | 'detached'>): Fiber | null {
    const failure = this.#hooks.failure()
    if (failure !== null) throw new RuntimeFailedError(failure)
    const fiber = this.#hooks.create({ ...options, root: IDLE_ROOT, detached: true })
    if (fiber === null) return null
    fiber.worker = true
    fiber.state = 'idle'
    return fiber
  }

  /** Run root on an idle worker: settled at once when it ran on the caller's stack and did not block. */
  callOn(worker: Fiber, root: FiberRoot): CallOutcome {
    const failure = this.#hooks.failure()
    if (failure !== null) return { settled: false, promise: Promise.reject(new RuntimeFailedError(failure)) }
    invariant(worker.worker, worker, 'calls go to workers')
    expectState(worker, 'idle', 'a call on a worker')
    worker.root = root
    worker.started = false
    worker.sp = worker.stackTop
    const atOnce = new SettledAtOnce()
    this.#wait(worker, atOnce)
    this.#hooks.dispatchCall(worker)
    if (atOnce.done) {
      return atOnce.error === null ? { settled: true, value: atOnce.value } : { settled: false, promise: Promise.reject(atOnce.error) }
    }
    // Still running or blocked: from here on its caller waits on a promise (the entry was counted by #wait).
    const promise = new Promise((resolve, reject) => { worker.caller = { resolve, reject } })
    return { settled: false, promise }
  }

  /** End an idle worker: its TLS destructors run in it, then it exits. */
  retire(worker: Fiber): Promise<void> {
    const failure = this.#hooks.failure()
    if (failure !== null) return Promise.reject(new RuntimeFailedError(failure))
    invariant(worker.worker, worker, 'only workers are retired')
    expectState(worker, 'idle', 'retiring a worker')
    worker.retiring = true
    worker.exiting = true
    return new Promise((resolve, reject) => {
      this.#wait(worker, { resolve: () => resolve(), reject })
      if (this.#hooks.startExit(worker)) this.#hooks.makeRunnable(worker)
    })
  }

  /** A worker's root returned: its call resolves and it waits for the next. */
  finishCall(worker: Fiber, result: unknown): void {
    expectState(worker, 'running', 'finishing a call')
    worker.state = 'idle'
    this.#take(worker)?.resolve(result)
  }

  /** fiber has exited: its caller, if any, gets its result. */
  exited(fiber: Fiber): void {
    const call = this.#take(fiber)
    // A worker ended by thread_exit in the middle of a call: that call has no result.
    if (fiber.worker && !fiber.retiring) call?.reject(new UklklError(`${fiber} exited during a call`))
    else call?.resolve(fiber.result)
  }

  /** The runtime has stopped: every waiting caller gets error. */
  rejectAll(error: Error): void {
    for (const fiber of this.#hooks.fibers()) this.#take(fiber)?.reject(error)
    // A caller left waiting here would wait for ever: every fiber with one is the lifecycle's until it exits.
    invariant(this.#waiting === 0, null, `${this.#waiting} callers wait on fibers the lifecycle no longer knows`)
  }

  #wait(fiber: Fiber, call: FiberCaller): void {
    if (fiber.caller === null) this.#waiting++
    fiber.caller = call
  }

  /** fiber's waiting caller, if any, who waits no more. */
  #take(fiber: Fiber): FiberCaller | null {
    const call = fiber.caller
    if (call === null) return null
    fiber.caller = null
    this.#waiting--
    return call
  }
}
