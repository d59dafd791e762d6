// SPDX-License-Identifier: MIT
/**
 * trampoline.ts - the one place where fibers are entered, unwound and rewound.
 *
 * run() calls a fiber's root: the first time it enters it, afterwards it rewinds
 * it (asyncify) to where it stopped. It returns when the fiber stops running, saying
 * how (Outcome); what follows (requeue, exit, settle a call) is the scheduler's.
 *
 * A fiber stops in one of three ways:
 * - a suspending host op, inside suspendable(), asks to suspend and starts the
 *   unwind; the wasm frames return one by one into run(), which stops the unwind
 *   there and keeps the fiber's stack pointer. A setjmp is such a suspension:
 *   run() snapshots the buffer and rewinds the fiber at once (setjmp returns 0).
 *   So is a longjmp: run() puts the snapshot back over what the unwind saved and
 *   rewinds the fiber to the setjmp, which returns again. (An unwind is cheaper
 *   than a JS exception through the same wasm frames.)
 * - thread_exit throws FiberExit through the wasm frames: the stack is abandoned.
 * - the root returns, or traps; thread_return throws RootReturn, which is the root
 *   returning from wherever the fiber is (its jump points go with the frames).
 *
 * Each fiber's stack starts with a canary word; it is checked every time the
 * fiber stops, and a trap is reported as a stack overflow when the canary is gone.
 *
 * Limits: one wasm instance; a fiber that never reaches a loop header or a host op
 * cannot be stopped. The memory behind an asyncify buffer that overflowed is lost.
 */
import { AsyncifyOverflowError, FiberTrapError, StackOverflowError, UklklError } from '../errors.js'
import { type Asyncify, AsyncifyState } from './asyncify.js'
import type { AfterUnwind, Fiber } from './fiber.js'
import { invariant } from './invariant.js'
import { MemoryViews } from './memory-views.js'

/** Returned by a host op's body to say "the current fiber is to be unwound". */
export const SUSPEND: unique symbol = Symbol('suspend')

/** Thrown through a fiber's wasm frames to end it (thread_exit). */
export class FiberExit {}

/** Thrown through a fiber's wasm frames to return value from its root at once (thread_return). */
export class RootReturn {
  constructor(readonly value: number) {}
}

/** The parts of the wasm instance the trampoline drives. */
export interface FiberMachine {
  readonly memory: WebAssembly.Memory
  readonly stackPointer: WebAssembly.Global
  readonly asyncify: Asyncify
  /** The preemption fuel global, when the module is instrumented. */
  readonly fuel: WebAssembly.Global | null
}

/** How a fiber stopped running. */
export type Outcome =
  /** It unwound in a host op that asked to wait, to be preempted or to yield. */
  | { readonly kind: 'suspended', readonly reason: Exclude<AfterUnwind['kind'], 'setjmp' | 'longjmp'> }
  /** Its root returned. */
  | { readonly kind: 'returned', readonly result: unknown }
  /** It called thread_exit. */
  | { readonly kind: 'exited' }

export interface TrampolineState {
  readonly nextJumpSerial: number
  readonly bufferHighWater: readonly (readonly [string, number])[]
}

const STACK_CANARY = 0x5ac4_ca7e
/** The {i32 cur, i32 end} in front of an asyncify buffer's data. */
const ASYNCIFY_HEADER = 8

export class Trampoline {
  /** The most asyncify buffer bytes one unwind used, by fiber name (exited fibers included). */
  readonly bufferHighWater = new Map<string, number>()
  readonly #machine: FiberMachine
  readonly #views: MemoryViews
  readonly #fuel: number
  #current: Fiber | null = null
  #nextJumpSerial = 1

  constructor(machine: FiberMachine, fuel: number) {
    this.#machine = machine
    this.#views = new MemoryViews(machine.memory)
    this.#fuel = fuel
  }

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
    this.#views.data.setUint32(fiber.stackBase, STACK_CANARY, true)
  }

  refillFuel(): void {
    if (this.#machine.fuel !== null) this.#machine.fuel.value = this.#fuel
  }

  newJumpSerial(): number {
    return this.#nextJumpSerial++
  }

  /** The next jump point's serial and the buffer high-water marks, for a boot snapshot. */
  save(): TrampolineState {
    return { nextJumpSerial: this.#nextJumpSerial, bufferHighWater: [...this.bufferHighWater] }
  }

  load(state: TrampolineState): void {
    this.#nextJumpSerial = state.nextJumpSerial
    for (const [name, bytes] of state.bufferHighWater) this.bufferHighWater.set(name, bytes)
  }

  /**
   * The frame of every suspending host op: on the rewind that resumes the fiber it
   * returns the fiber's wake value; otherwise it runs body, and if body says
   * SUSPEND it starts unwinding the fiber (the value returned then is ignored).
   */
  suspendable(body: (fiber: Fiber) => number | typeof SUSPEND): number {
    const asyncify = this.#machine.asyncify
    const fiber = this.current
    if (asyncify.state === AsyncifyState.Rewinding) {
      asyncify.stopRewind(fiber)
      return fiber.wakeValue
    }
    const result = body(fiber)
    if (result !== SUSPEND) return result
    invariant(fiber.afterUnwind !== null, fiber, 'a host op says SUSPEND only after suspend() said why')
    const view = this.#views.data
    view.setUint32(fiber.buffer, fiber.buffer + ASYNCIFY_HEADER, true)
    view.setUint32(fiber.buffer + 4, fiber.buffer + fiber.bufferSize, true)
    asyncify.startUnwind(fiber)
    return 0
  }

  /** Record why fiber is to unwind; its host op returns what this returns to suspendable(). */
  suspend(fiber: Fiber, after: AfterUnwind): typeof SUSPEND {
    invariant(fiber === this.#current, fiber, 'only the running fiber suspends')
    invariant(fiber.afterUnwind === null, fiber, 'a fiber suspends at most once per host op')
    fiber.afterUnwind = after
    return SUSPEND
  }

  /** Run fiber until it suspends, returns or exits. */
  run(fiber: Fiber): Outcome {
    invariant(this.#current === null, fiber, 'one fiber runs at a time')
    invariant(fiber.state === 'running', fiber, 'the trampoline enters only the fiber the policy dispatched')
    const asyncify = this.#machine.asyncify
    this.#current = fiber
    try {
      for (;;) {
        this.#machine.stackPointer.value = fiber.sp
        if (fiber.started) asyncify.startRewind(fiber)
        fiber.started = true
        this.refillFuel()
        let result: unknown
        try {
          result = fiber.root.fn(...fiber.root.args)
        } catch (thrown) {
          if (thrown instanceof RootReturn) {
            this.#checkStack(fiber)
            fiber.jumpPoints.clear()
            return { kind: 'returned', result: thrown.value }
          }
          if (!(thrown instanceof FiberExit)) throw this.#explainThrow(fiber, thrown)
          this.#checkStack(fiber)
          return { kind: 'exited' }
        }
        this.#checkStack(fiber)
        if (asyncify.state !== AsyncifyState.Unwinding) {
          // A sync op that set afterUnwind would leave the fiber believing it is suspended.
          invariant(fiber.afterUnwind === null, fiber, 'a fiber that asked to suspend unwinds')
          return { kind: 'returned', result }
        }
        const after = this.#stopUnwind(fiber)
        if (after.kind === 'setjmp') this.#saveJumpPoint(fiber, after.jb)
        else if (after.kind === 'longjmp') this.#restoreJumpPoint(fiber, after.jb, after.value)
        else return { kind: 'suspended', reason: after.kind }
      }
    } finally {
      this.#current = null
    }
  }

  /** End the unwind that brought fiber back here; returns what it unwound for. */
  #stopUnwind(fiber: Fiber): AfterUnwind {
    const used = this.#views.data.getUint32(fiber.buffer, true) - fiber.buffer
    // Asyncify checks the bound only here, after the unwind has written past it:
    // the memory behind the buffer is lost, so the runtime must stop now.
    if (used > fiber.bufferSize) throw new AsyncifyOverflowError(fiber.toString(), fiber.bufferSize)
    this.#machine.asyncify.stopUnwind(fiber)
    fiber.sp = this.#machine.stackPointer.value as number
    fiber.bufferHighWater = Math.max(fiber.bufferHighWater, used)
    this.bufferHighWater.set(fiber.name, Math.max(this.bufferHighWater.get(fiber.name) ?? 0, used))
    const after = fiber.afterUnwind
    invariant(after !== null, fiber, 'a fiber unwinds only after a host op said why')
    fiber.afterUnwind = null
    return after
  }

  /** setjmp: keep the used part of the buffer and the stack pointer; setjmp then returns 0. */
  #saveJumpPoint(fiber: Fiber, serial: number): void {
    const end = this.#views.data.getUint32(fiber.buffer, true)
    const data = this.#views.bytes.slice(fiber.buffer, end)
    fiber.jumpPoints.set(serial, { sp: fiber.sp, data })
    fiber.wakeValue = 0
  }

  /** longjmp: put the snapshot back over what the unwind saved; the rewind makes setjmp return value. */
  #restoreJumpPoint(fiber: Fiber, serial: number, value: number): void {
    const point = fiber.jumpPoints.get(serial)
    invariant(point !== undefined, fiber, 'a longjmp goes to a jump point its fiber saved')
    this.#views.bytes.set(point.data, fiber.buffer)
    fiber.sp = point.sp
    fiber.wakeValue = value
  }

  #stackIntact(fiber: Fiber): boolean {
    return this.#views.data.getUint32(fiber.stackBase, true) === STACK_CANARY
  }

  #checkStack(fiber: Fiber): void {
    if (!this.#stackIntact(fiber)) throw new StackOverflowError(fiber.toString(), fiber.stackSize)
  }

  /** Turn what a fiber threw into the error that fails the runtime. */
  #explainThrow(fiber: Fiber, thrown: unknown): Error {
    if (thrown instanceof UklklError) return thrown
    // A trap after the stack ran over its bottom is the overflow's doing, whatever it hit.
    if (!this.#stackIntact(fiber)) return new StackOverflowError(fiber.toString(), fiber.stackSize)
    return new FiberTrapError(fiber.toString(), thrown)
  }
}
