// SPDX-License-Identifier: MIT
/**
 * jspi-trampoline.ts - the JSPI fiber backend (see trampoline.ts): a fiber is a
 * WebAssembly.promising call of its root, and the suspending host ops are
 * WebAssembly.Suspending imports (suspendingOps() wraps them).
 *
 * run() makes the fiber's first call, or resolves the promise its last
 * suspending op returned; either way the fiber runs until it stops, and the Later
 * run() returned settles then: from inside the op that suspends it (which returns
 * a new promise, and V8 takes the fiber's stack off the CPU), or when the root's
 * promise settles. The stack pointer is the fiber's from enter() on: nothing else runs
 * wasm of the instance while a fiber is on the CPU, including the microtask
 * between a resolve and the fiber running again.
 *
 * A worker's call to an export of type (i32, i32) -> i32 (the kernel's
 * kernel_syscall) runs in a serve loop (jspi-serve.ts): the worker parks in it
 * between calls instead of ending its promising call, and the next call to the
 * same export resumes it.
 *
 * Costs and limits: a suspended fiber's frames are a V8 stack, not wasm memory, so
 * a runtime on JSPI cannot be saved in a boot snapshot (fibersInMemory is false).
 * A Suspending import traps when reached from a call that is not promising, even
 * when it would not suspend: every call into the module goes through a fiber,
 * and JS that calls the module from inside a host op (the watchdog's report)
 * must not reach a suspending op.
 */
import type { Fiber, FiberRoot } from './fiber.js'
import { invariant } from './invariant.js'
import { jspi } from './jspi.js'
import { serveLoop } from './jspi-serve.js'
import { Later } from './later.js'
import { type FiberMachine, type Outcome, SUSPEND, Trampoline } from './trampoline.js'

/** The host-ops table with the ops named in suspending wrapped as WebAssembly.Suspending imports. */
export function suspendingOps(ops: object, suspending: ReadonlySet<string>): Record<string, unknown> {
  const wrapped: Record<string, unknown> = { ...ops }
  for (const [name, op] of Object.entries(ops)) {
    if (suspending.has(name) && typeof op === 'function') wrapped[name] = new jspi.Suspending(op as (...args: never[]) => unknown)
  }
  return wrapped
}

export class JspiTrampoline extends Trampoline {
  readonly fibersInMemory = false
  /** Each root's promising wrapper, made once. */
  readonly #promising = new WeakMap<FiberRoot['fn'], (...args: number[]) => Promise<unknown>>()
  /** Each root's serve loop (jspi-serve.ts), promising; null for a root not of the loop's type. */
  readonly #serve = new WeakMap<FiberRoot['fn'], ((...args: number[]) => Promise<unknown>) | null>()
  /** The second argument of the call a parked worker resumes with. */
  #arg1 = 0
  #stop: Later<Outcome> | null = null

  constructor(machine: FiberMachine, fuel: number) {
    super(machine, fuel)
  }

  suspendable(body: (fiber: Fiber) => number | typeof SUSPEND): number | Promise<number> {
    const fiber = this.current
    const result = body(fiber)
    if (result !== SUSPEND) return result
    const reason = this.takeAfterUnwind(fiber).kind
    fiber.sp = this.machine.stackPointer.value as number
    const resumed = new Promise<number>((resolve) => { fiber.jspiResume = resolve })
    this.#stopWith(fiber, () => {
      this.checkStack(fiber)
      return { kind: 'suspended', reason }
    })
    return resumed
  }

  run(fiber: Fiber): Later<Outcome> {
    this.enter(fiber)
    const stop = new Later<Outcome>()
    this.#stop = stop
    const resume = fiber.jspiResume
    if (fiber.started && resume !== null) {
      fiber.jspiResume = null
      resume(fiber.wakeValue)
      return stop
    }
    invariant(!fiber.started, fiber, 'a started fiber resumes from the op it suspended in')
    fiber.started = true
    // A fiber that called before has no way back: its frames went with its last root.
    fiber.jspiResume = null
    const parked = fiber.jspiParked
    fiber.jspiParked = null
    if (parked !== null && parked.fn === fiber.root.fn) {
      const [arg0 = 0, arg1 = 0] = fiber.root.args
      this.#arg1 = arg1
      parked.resume(arg0)
      return stop
    }
    this.#call(fiber).then(
      (result) => this.#stopWith(fiber, () => {
        this.checkStack(fiber)
        return { kind: 'returned', result }
      }),
      (thrown: unknown) => this.#stopWith(fiber, () => this.thrownOutcome(fiber, thrown)),
    )
    return stop
  }

  /** fiber stops with what outcome() says, or with what it throws. */
  #stopWith(fiber: Fiber, outcome: () => Outcome): void {
    const stop = this.#settle(fiber)
    let stopped: Outcome
    try {
      stopped = outcome()
    } catch (error) {
      stop.fail(error)
      return
    }
    stop.settle(stopped)
  }

  /**
   * A fiber's first entry: a promising call of its root, which runs until the
   * root's first suspension; a worker's root of the serve loop's type runs in one.
   */
  #call(fiber: Fiber): Promise<unknown> {
    const { fn, args } = fiber.root
    const serve = fiber.worker && args.length === 2 ? this.#serveOf(fn) : null
    let promising = serve ?? this.#promising.get(fn)
    if (promising === undefined) {
      promising = jspi.promising(fn)
      this.#promising.set(fn, promising)
    }
    try {
      return promising(...args)
    } catch (thrown) {
      return Promise.reject(thrown)
    }
  }

  #serveOf(fn: FiberRoot['fn']): ((...args: number[]) => Promise<unknown>) | null {
    let serve = this.#serve.get(fn)
    if (serve === undefined) {
      const loop = serveLoop(fn, { next: (result) => this.#park(fn, result), arg1: () => this.#arg1 })
      serve = loop === null ? null : jspi.promising(loop)
      this.#serve.set(fn, serve)
    }
    return serve
  }

  /** In a serve loop: the worker's call of fn returned result; the worker parks until its next call. */
  #park(fn: FiberRoot['fn'], result: number): Promise<number> {
    const fiber = this.current
    const next = new Promise<number>((resume) => { fiber.jspiParked = { fn, resume } })
    this.#stopWith(fiber, () => {
      this.checkStack(fiber)
      return { kind: 'returned', result }
    })
    return next
  }

  /** fiber stops: it is off the CPU, and run()'s Later is to settle. */
  #settle(fiber: Fiber): Later<Outcome> {
    const stop = this.#stop
    invariant(stop !== null && this.current === fiber, fiber, 'the fiber that stops is the one run() entered')
    this.#stop = null
    this.leave()
    return stop
  }
}
