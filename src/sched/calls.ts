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
import type { Fiber, FiberRoot } from './fiber.js'
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
}

interface PendingCall {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

/** A worker's root between calls; never run, since an idle worker is in no queue. */
const IDLE_ROOT: FiberRoot = { fn: () => undefined, args: [] }

export class Calls {
  readonly #hooks: CallHooks
  readonly #pending = new Map<Fiber, PendingCall>()

  constructor(hooks: CallHooks) {
    this.#hooks = hooks
  }

  /** JS callers waiting for a fiber. */
  get waiting(): number {
    return this.#pending.size
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
      this.#pending.set(fiber, { resolve, reject })
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

  /** Run root on an idle worker; resolves with what root returns. */
  callOn(worker: Fiber, root: FiberRoot): Promise<unknown> {
    const failure = this.#hooks.failure()
    if (failure !== null) return Promise.reject(new RuntimeFailedError(failure))
    invariant(worker.worker, worker, 'calls go to workers')
    expectState(worker, 'idle', 'a call on a worker')
    worker.root = root
    worker.started = false
    worker.sp = worker.stackTop
    return new Promise((resolve, reject) => {
      this.#pending.set(worker, { resolve, reject })
      this.#hooks.dispatchCall(worker)
    })
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
      this.#pending.set(worker, { resolve: () => resolve(), reject })
      if (this.#hooks.startExit(worker)) this.#hooks.makeRunnable(worker)
    })
  }

  /** A worker's root returned: its call resolves and it waits for the next. */
  finishCall(worker: Fiber, result: unknown): void {
    expectState(worker, 'running', 'finishing a call')
    worker.state = 'idle'
    this.#settle(worker, result)
  }

  /** fiber has exited: its caller, if any, gets its result. */
  exited(fiber: Fiber): void {
    if (fiber.worker && !fiber.retiring) {
      // A worker ended by thread_exit in the middle of a call: that call has no result.
      this.#pending.get(fiber)?.reject(new UklklError(`${fiber} exited during a call`))
      this.#pending.delete(fiber)
      return
    }
    this.#settle(fiber, fiber.result)
  }

  /** The runtime has stopped: every waiting caller gets error. */
  rejectAll(error: Error): void {
    for (const call of this.#pending.values()) call.reject(error)
    this.#pending.clear()
  }

  #settle(fiber: Fiber, result: unknown): void {
    const call = this.#pending.get(fiber)
    if (call === undefined) return
    this.#pending.delete(fiber)
    call.resolve(result)
  }
}
