// SPDX-License-Identifier: MIT
/**
 * fiber.ts - a thread of the wasm program: its own C stack and, on the asyncify
 * backend, its own asyncify buffer (on JSPI, the way back to its V8 stack).
 *
 * A fiber runs a root function (a module export called with fixed arguments). When
 * it blocks, its backend takes it off the CPU (trampoline.ts), keeping its stack
 * pointer: asyncify unwinds it into its buffer, and resuming rewinds the same root
 * with the same arguments; JSPI suspends its V8 stack, and resuming resolves the
 * promise it waits on. Only the scheduler changes a fiber's state; the rest read it.
 *
 * States: ready (in the run queue) → running (policy.next) → ready again
 * (preempt, yield), blocked (wait) until woken → ready, idle (a worker between
 * calls) until called → ready, or exited (lifecycle.ts) for good.
 */
import type { WaitQueue } from './wait-queue.js'

/** 'idle': a worker between two calls (see Scheduler.createWorker). */
export type FiberState = 'ready' | 'running' | 'blocked' | 'idle' | 'exited'

/** What a fiber runs: an export of the module and the arguments it is called with. */
export interface FiberRoot {
  readonly fn: (...args: number[]) => unknown
  readonly args: readonly number[]
}

/** A JS caller waiting for a fiber's call (calls.ts). */
export interface FiberCaller {
  resolve(value: unknown): void
  reject(error: Error): void
}

/** What the trampoline does once the fiber has unwound (set by the op that suspended it). */
export type AfterUnwind =
  | { kind: 'wait' } // it sits in a wait queue
  | { kind: 'preempted' } // back to the run queue: head with quantum left, else tail
  | { kind: 'yield' } // back to the run queue's tail

export const PRIORITY_LOWEST = 0
export const PRIORITY_DEFAULT = 16
export const PRIORITY_HIGHEST = 31

export class Fiber {
  state: FiberState = 'ready'
  /** The root to run; a TLS destructor replaces it while the fiber exits. */
  root: FiberRoot
  /** False until the root has been entered; afterwards the fiber resumes by rewinding. */
  started = false
  /** The stack pointer to resume with (the deep value saved after an unwind). */
  sp: number
  /** The effective priority: basePriority, or the lowest after using up a quantum. */
  priority: number
  quantum = 0
  /** What the suspending op returns when the fiber resumes. */
  wakeValue = 0
  afterUnwind: AfterUnwind | null = null
  /** The wait queue it sits in (for deadlock reports). */
  waitingIn: WaitQueue | null = null
  detached = false
  /** A worker: returning from its root makes it idle instead of ending it. */
  worker = false
  /** A worker asked to end (Scheduler.retire), as opposed to one that called thread_exit. */
  retiring = false
  /** Set once the original root has returned or thread_exit was called. */
  exiting = false
  result: unknown = undefined
  /**
   * The JS caller waiting for this fiber (calls.ts); null when none waits. A field,
   * not a map of the calls': a map's get and set on every call's way in and out
   * cost a syscall a few per cent.
   */
  caller: FiberCaller | null = null
  /** TLS slots by key handle. */
  readonly tls = new Map<number, number>()
  /** The most asyncify buffer bytes one unwind of this fiber has used. */
  bufferHighWater = 0
  /**
   * On JSPI (jspi-trampoline.ts), a suspended fiber's way back onto the CPU: the
   * resolver of the promise its op returned. Fields, not maps of the trampoline's:
   * a WeakMap's get, set and delete on every call cost a tenth of a syscall.
   */
  jspiResume: ((value: number) => void) | null = null
  /** On JSPI, a worker parked in a serve loop between calls: the root it serves, and how to resume it with a call's first argument. */
  jspiParked: { fn: FiberRoot['fn'], resume: (arg0: number) => void } | null = null

  constructor(
    readonly id: number,
    readonly name: string,
    readonly basePriority: number,
    root: FiberRoot,
    readonly stackBase: number,
    readonly stackSize: number,
    readonly buffer: number,
    readonly bufferSize: number,
  ) {
    this.root = root
    this.priority = basePriority
    this.sp = this.stackTop
  }

  get stackTop(): number {
    return this.stackBase + this.stackSize
  }

  toString(): string {
    return `${this.name}#${this.id}`
  }
}
