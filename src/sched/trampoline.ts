// SPDX-License-Identifier: MIT
/**
 * trampoline.ts - the one place where fibers are entered and stopped: what both
 * fiber backends share, and the interface the scheduler drives them by.
 *
 * run() enters a fiber (the first time it calls its root, afterwards it resumes
 * it where it stopped) and gives back how it stopped (Outcome); what follows
 * (requeue, exit, settle a call) is the scheduler's. A fiber stops in one of three
 * ways:
 * - a suspending host op, inside suspendable(), asks to suspend (suspend() says
 *   why); the backend takes the fiber off the CPU and keeps its stack pointer;
 * - thread_exit throws FiberExit through the wasm frames: the stack is abandoned;
 * - the root returns, or traps; thread_return throws RootReturn, which is the root
 *   returning from wherever the fiber is.
 * Jump points (setjmp/longjmp) are not the trampoline's: they are wasm exceptions
 * inside the fiber (host-ops.h).
 *
 * The backends:
 * - asyncify-trampoline.ts: binaryen's asyncify unwinds a fiber into run() and
 *   rewinds it; run() returns at once. Runs everywhere; the only one that can save
 *   a blocked fiber in memory (boot snapshots).
 * - jspi-trampoline.ts: a fiber is a WebAssembly.promising call and the
 *   suspending ops are WebAssembly.Suspending imports; run() returns a Later,
 *   settled when the fiber stops. Needs JSPI (Node 26) and an image without asyncify.
 *
 * Each fiber's stack starts with a canary word; it is checked every time the
 * fiber stops, and a trap is reported as a stack overflow when the canary is gone.
 *
 * Limits: one wasm instance; a fiber that never reaches a loop header or a host op
 * cannot be stopped.
 */
import { FiberTrapError, StackOverflowError, UklklError } from '../errors.js'
import type { AfterUnwind, Fiber } from './fiber.js'
import { invariant } from './invariant.js'
import type { Later } from './later.js'
import { MemoryViews } from './memory-views.js'

/** Returned by a host op's body to say "the current fiber is to stop". */
export const SUSPEND: unique symbol = Symbol('suspend')

/** Thrown through a fiber's wasm frames to end it (thread_exit). */
export class FiberExit {}

/** Thrown through a fiber's wasm frames to return value from its root at once (thread_return). */
export class RootReturn {
  constructor(readonly value: number) {}
}

/** What a suspending host op returns: its value, or on JSPI a promise of it while the fiber is off the CPU. */
export type Suspended<T> = T | Promise<T>

/** For a suspending op C declares void: no value, unless it is the promise a JSPI fiber waits on (whose value wasm drops). */
export function noValue(result: Suspended<number>): Suspended<unknown> {
  return result instanceof Promise ? result : undefined
}

/** The parts of the wasm instance a trampoline drives. */
export interface FiberMachine {
  readonly memory: WebAssembly.Memory
  readonly stackPointer: WebAssembly.Global
  /** The preemption fuel global, when the module is instrumented. */
  readonly fuel: WebAssembly.Global | null
}

/** How a fiber stopped running. */
export type Outcome =
  /** It stopped in a host op that asked to wait, to be preempted or to yield. */
  | { readonly kind: 'suspended', readonly reason: AfterUnwind['kind'] }
  /** Its root returned. */
  | { readonly kind: 'returned', readonly result: unknown }
  /** It called thread_exit. */
  | { readonly kind: 'exited' }

export interface TrampolineState {
  readonly bufferHighWater: readonly (readonly [string, number])[]
}

const STACK_CANARY = 0x5ac4_ca7e

export abstract class Trampoline {
  /** The most asyncify buffer bytes one unwind used, by fiber name (exited fibers included); empty on JSPI. */
  readonly bufferHighWater = new Map<string, number>()
  protected readonly machine: FiberMachine
  protected readonly views: MemoryViews
  readonly #fuel: number
  #current: Fiber | null = null

  constructor(machine: FiberMachine, fuel: number) {
    this.machine = machine
    this.views = new MemoryViews(machine.memory)
    this.#fuel = fuel
  }

  /** Whether a suspended fiber's state lives in wasm memory, so that a boot snapshot can keep it. */
  abstract readonly fibersInMemory: boolean

  /**
   * The frame of every suspending host op: runs body, and if body says SUSPEND
   * takes the fiber off the CPU; the op returns the fiber's wake value once it runs again.
   */
  abstract suspendable(body: (fiber: Fiber) => number | typeof SUSPEND): Suspended<number>

  /** Run fiber until it suspends, returns or exits: at once (asyncify), or Later (JSPI). */
  abstract run(fiber: Fiber): Outcome | Later<Outcome>

  /** The fiber running now; host ops are only ever called from one. */
  get current(): Fiber {
    invariant(this.#current !== null, null, 'host ops are called from a running fiber, not from outside the scheduler')
    return this.#current
  }

  /** Whether a fiber runs now: JS called from inside it (a host op) rather than from the scheduler or the event loop. */
  get inFiber(): boolean {
    return this.#current !== null
  }

  /** Write the canary at the bottom of a new fiber's stack. */
  armStackCanary(fiber: Fiber): void {
    this.views.data.setUint32(fiber.stackBase, STACK_CANARY, true)
  }

  refillFuel(): void {
    if (this.machine.fuel !== null) this.machine.fuel.value = this.#fuel
  }

  /** The buffer high-water marks, for a boot snapshot. */
  save(): TrampolineState {
    return { bufferHighWater: [...this.bufferHighWater] }
  }

  load(state: TrampolineState): void {
    for (const [name, bytes] of state.bufferHighWater) this.bufferHighWater.set(name, bytes)
  }

  /** Record why fiber is to stop; its host op returns what this returns to suspendable(). */
  suspend(fiber: Fiber, after: AfterUnwind): typeof SUSPEND {
    invariant(fiber === this.#current, fiber, 'only the running fiber suspends')
    invariant(fiber.afterUnwind === null, fiber, 'a fiber suspends at most once per host op')
    fiber.afterUnwind = after
    return SUSPEND
  }

  /** fiber is on the CPU from now on; its stack pointer and fuel are the machine's. */
  protected enter(fiber: Fiber): void {
    invariant(this.#current === null, fiber, 'one fiber runs at a time')
    invariant(fiber.state === 'running', fiber, 'the trampoline enters only the fiber the policy dispatched')
    this.#current = fiber
    this.machine.stackPointer.value = fiber.sp
    this.refillFuel()
  }

  /** The fiber is off the CPU. */
  protected leave(): void {
    this.#current = null
  }

  /** Why a suspending fiber stops, taken from it. */
  protected takeAfterUnwind(fiber: Fiber): AfterUnwind {
    const after = fiber.afterUnwind
    invariant(after !== null, fiber, 'a fiber stops only after a host op said why')
    fiber.afterUnwind = null
    return after
  }

  /** How a fiber whose root threw stopped: thread_return and thread_exit are ways of stopping; anything else fails the runtime. */
  protected thrownOutcome(fiber: Fiber, thrown: unknown): Outcome {
    if (thrown instanceof RootReturn) {
      this.checkStack(fiber)
      return { kind: 'returned', result: thrown.value }
    }
    if (!(thrown instanceof FiberExit)) throw this.#explainThrow(fiber, thrown)
    this.checkStack(fiber)
    return { kind: 'exited' }
  }

  protected checkStack(fiber: Fiber): void {
    if (!this.#stackIntact(fiber)) throw new StackOverflowError(fiber.toString(), fiber.stackSize)
  }

  #stackIntact(fiber: Fiber): boolean {
    return this.views.data.getUint32(fiber.stackBase, true) === STACK_CANARY
  }

  /** Turn what a fiber threw into the error that fails the runtime. */
  #explainThrow(fiber: Fiber, thrown: unknown): Error {
    if (thrown instanceof UklklError) return thrown
    // A trap after the stack ran over its bottom is the overflow's doing, whatever it hit.
    if (!this.#stackIntact(fiber)) return new StackOverflowError(fiber.toString(), fiber.stackSize)
    return new FiberTrapError(fiber.toString(), thrown)
  }
}
