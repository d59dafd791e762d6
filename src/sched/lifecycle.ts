// SPDX-License-Identifier: MIT
/**
 * lifecycle.ts - threads from creation to reaping: create, join and detach, TLS
 * keys, and the exit that runs TLS destructors in the exiting fiber.
 *
 * A fiber's id is its thread handle and its tid; ids are never reused. Its stack
 * and (on asyncify) its asyncify buffer come from the heap at creation and go
 * back at exit; a JSPI fiber has no buffer (buffer 0, size 0). An
 * exited fiber stays known until one joiner reaps it, or leaves at once when
 * detached, so that a join can tell "exited" from "already joined".
 *
 * Exit runs in the exiting fiber: each TLS value with a destructor becomes its
 * root in turn, started afresh on its own stack, for up to DESTRUCTOR_ROUNDS
 * rounds (a destructor may set values again); then the fiber is gone.
 *
 * Limits: a fiber knows nothing of the creating fiber (no TLS inheritance); the
 * heap must have room for a whole stack and buffer or creation fails.
 */
import { type BlockedFiber, UklklError } from '../errors.js'
import { Fiber, type FiberRoot, PRIORITY_DEFAULT, PRIORITY_HIGHEST, PRIORITY_LOWEST } from './fiber.js'
import type { Heap } from './heap.js'
import { invariant } from './invariant.js'
import type { SUSPEND, Trampoline } from './trampoline.js'
import { WaitQueue } from './wait-queue.js'

export interface SpawnOptions {
  name: string
  root: FiberRoot
  priority?: number
  stackSize?: number
  bufferSize?: number
  detached?: boolean
}

/** What the lifecycle needs of the rest of the scheduler. */
export interface LifecycleHooks {
  wait(fiber: Fiber, queue: WaitQueue): typeof SUSPEND
  wakeOne(queue: WaitQueue, value: number): Fiber | undefined
  wakeAll(queue: WaitQueue, value: number): number
  /** fiber has exited and its memory is back in the heap. */
  exited(fiber: Fiber): void
}

export interface FiberSizes {
  /** C stack of each fiber, bytes. */
  readonly stackSize: number
  /** Asyncify buffer of each fiber, bytes. */
  readonly bufferSize: number
}

/**
 * A blocked thread as plain data, for a boot snapshot: its root is host_entry
 * with args, and it resumes by rewinding from sp with its asyncify buffer as it
 * is in memory. What it waits in is its wait queue's owner's to record.
 */
export interface FiberRecord {
  readonly id: number
  readonly name: string
  readonly basePriority: number
  readonly priority: number
  readonly quantum: number
  readonly args: readonly number[]
  readonly stackBase: number
  readonly stackSize: number
  readonly buffer: number
  readonly bufferSize: number
  readonly sp: number
  readonly detached: boolean
  readonly tls: readonly (readonly [number, number])[]
  readonly bufferHighWater: number
}

export interface LifecycleState {
  readonly fibers: readonly FiberRecord[]
  readonly nextFiberId: number
  readonly nextTlsKey: number
  /** [key, destructor] in allocation order. */
  readonly tlsKeys: readonly (readonly [number, number])[]
}

/** POSIX's PTHREAD_DESTRUCTOR_ITERATIONS: rounds of TLS destructors at thread exit. */
const DESTRUCTOR_ROUNDS = 4

export class Lifecycle {
  readonly #heap: Heap
  readonly #trampoline: Trampoline
  readonly #hostEntry: FiberRoot['fn']
  readonly #sizes: FiberSizes
  readonly #hooks: LifecycleHooks
  /** Live fibers and exited ones nobody has joined yet. */
  readonly #fibers = new Map<number, Fiber>()
  /** Fibers waiting to join each fiber. */
  readonly #joinQueues = new Map<Fiber, WaitQueue>()
  /** TLS destructors by key, in allocation order (0: none). */
  readonly #tlsKeys = new Map<number, number>()
  #nextFiberId = 1
  #nextTlsKey = 1

  constructor(heap: Heap, trampoline: Trampoline, hostEntry: FiberRoot['fn'], sizes: FiberSizes, hooks: LifecycleHooks) {
    this.#heap = heap
    this.#trampoline = trampoline
    this.#hostEntry = hostEntry
    this.#sizes = sizes
    this.#hooks = hooks
  }

  /** A new fiber, ready but in no queue; null when there is no memory for its stack. */
  create(options: SpawnOptions): Fiber | null {
    const priority = options.priority ?? PRIORITY_DEFAULT
    if (!Number.isInteger(priority) || priority < PRIORITY_LOWEST || priority > PRIORITY_HIGHEST) {
      throw new UklklError(`fiber ${options.name}: priority ${priority} is not an integer from ${PRIORITY_LOWEST} to ${PRIORITY_HIGHEST}`)
    }
    const stackSize = options.stackSize ?? this.#sizes.stackSize
    // A JSPI fiber's frames live in V8 while it is off the CPU: it needs no asyncify buffer.
    const bufferSize = this.#trampoline.fibersInMemory ? options.bufferSize ?? this.#sizes.bufferSize : 0
    const stack = this.#heap.alloc(stackSize)
    const buffer = stack === 0 || bufferSize === 0 ? 0 : this.#heap.alloc(bufferSize)
    if (stack === 0 || (buffer === 0 && bufferSize > 0)) {
      if (stack !== 0) this.#heap.free(stack)
      return null
    }
    const fiber = new Fiber(this.#nextFiberId++, options.name, priority, options.root, stack, stackSize, buffer, bufferSize)
    fiber.detached = options.detached ?? false
    this.#trampoline.armStackCanary(fiber)
    this.#fibers.set(fiber.id, fiber)
    return fiber
  }

  get(id: number): Fiber | undefined {
    return this.#fibers.get(id)
  }

  /** The id of the most recent fiber. */
  get lastId(): number {
    return this.#nextFiberId - 1
  }

  get live(): number {
    let n = 0
    for (const f of this.#fibers.values()) if (f.state !== 'exited') n++
    return n
  }

  /** Every fiber not yet gone. */
  all(): Iterable<Fiber> {
    return this.#fibers.values()
  }

  /** Every blocked fiber and what it waits on, for a deadlock report. */
  blocked(): BlockedFiber[] {
    return [...this.#fibers.values()]
      .filter((f) => f.state === 'blocked')
      .map((f) => ({ fiber: f.toString(), waitsOn: f.waitingIn?.describe() ?? 'nothing known' }))
  }

  /** Wait for target to exit: 0 when it has, -1 when it cannot be joined. */
  join(fiber: Fiber, target: Fiber): 0 | -1 | typeof SUSPEND {
    if (target === fiber || target.detached) return -1
    if (target.state === 'exited') {
      this.#fibers.delete(target.id)
      return 0
    }
    return this.#hooks.wait(fiber, this.#joinQueue(target))
  }

  /** fiber is reaped when it exits; whoever waits to join it gets -1 now. */
  detach(fiber: Fiber): void {
    invariant(fiber.state !== 'exited', fiber, 'only a live fiber detaches itself')
    fiber.detached = true
    const queue = this.#joinQueues.get(fiber)
    if (queue !== undefined) this.#hooks.wakeAll(queue, -1)
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

  /**
   * Go on with fiber's exit: true when the next TLS destructor is now its root
   * (run it), false when the exit is done.
   */
  startExit(fiber: Fiber): boolean {
    invariant(fiber.exiting, fiber, 'a fiber exits only once its root has returned or it called thread_exit')
    for (let round = 0; round < DESTRUCTOR_ROUNDS; round++) {
      for (const [key, destructor] of this.#tlsKeys) {
        const value = fiber.tls.get(key) ?? 0
        if (destructor === 0 || value === 0) continue
        fiber.tls.delete(key)
        fiber.root = { fn: this.#hostEntry, args: [destructor, value] }
        fiber.started = false
        fiber.sp = fiber.stackTop
        return true
      }
    }
    this.#finishExit(fiber)
    return false
  }

  /**
   * The threads as plain data; only when every one is blocked, runs host_entry
   * and has no joiner (a booted kernel at rest); else an UklklError says why not.
   */
  save(): LifecycleState {
    const fibers: FiberRecord[] = []
    for (const f of this.#fibers.values()) {
      const why = f.state !== 'blocked' ? `it is ${f.state}`
        : f.root.fn !== this.#hostEntry ? 'it runs a root other than host_entry'
          : this.#joinQueues.has(f) ? 'a thread waits to join it' : null
      if (why !== null) throw new UklklError(`thread ${f} cannot be saved: ${why}`)
      fibers.push({
        id: f.id, name: f.name, basePriority: f.basePriority, priority: f.priority, quantum: f.quantum,
        args: [...f.root.args], stackBase: f.stackBase, stackSize: f.stackSize, buffer: f.buffer,
        bufferSize: f.bufferSize, sp: f.sp, detached: f.detached, tls: [...f.tls],
        bufferHighWater: f.bufferHighWater,
      })
    }
    return { fibers, nextFiberId: this.#nextFiberId, nextTlsKey: this.#nextTlsKey, tlsKeys: [...this.#tlsKeys] }
  }

  /**
   * Take over the threads of save(), blocked and in no wait queue yet (their
   * wait queues' owners put them back). Only into a lifecycle with no threads:
   * their stacks and buffers are already blocks of the loaded heap.
   */
  load(state: LifecycleState): Fiber[] {
    invariant(this.#fibers.size === 0, null, 'threads load into a runtime that has none')
    const fibers = state.fibers.map((r) => {
      const fiber = new Fiber(r.id, r.name, r.basePriority, { fn: this.#hostEntry, args: r.args },
        r.stackBase, r.stackSize, r.buffer, r.bufferSize)
      fiber.state = 'blocked'
      fiber.started = true
      fiber.sp = r.sp
      fiber.priority = r.priority
      fiber.quantum = r.quantum
      fiber.detached = r.detached
      fiber.bufferHighWater = r.bufferHighWater
      for (const [key, value] of r.tls) fiber.tls.set(key, value)
      this.#fibers.set(fiber.id, fiber)
      return fiber
    })
    this.#nextFiberId = state.nextFiberId
    this.#nextTlsKey = state.nextTlsKey
    this.#tlsKeys.clear()
    for (const [key, destructor] of state.tlsKeys) this.#tlsKeys.set(key, destructor)
    return fibers
  }

  /** Every fiber ends where it stands; their memory goes back to the heap. */
  endAll(): void {
    for (const fiber of this.#fibers.values()) {
      if (fiber.state === 'exited') continue
      fiber.state = 'exited'
      this.#freeMemory(fiber)
    }
    this.#fibers.clear()
    this.#joinQueues.clear()
  }

  /** fiber's stack and asyncify buffer (a JSPI fiber has none) go back to the heap. */
  #freeMemory(fiber: Fiber): void {
    this.#heap.free(fiber.stackBase)
    if (fiber.buffer !== 0) this.#heap.free(fiber.buffer)
  }

  #finishExit(fiber: Fiber): void {
    invariant(fiber.state === 'running' || fiber.state === 'idle', fiber,
      'a fiber finishes its exit on the CPU, or idle when a worker is retired')
    fiber.state = 'exited'
    fiber.tls.clear()
    this.#freeMemory(fiber)
    const joiners = this.#joinQueues.get(fiber)
    if (joiners !== undefined) {
      this.#joinQueues.delete(fiber)
      // One joiner reaps the fiber; any other gets -1, as the contract says.
      const reaper = this.#hooks.wakeOne(joiners, 0)
      this.#hooks.wakeAll(joiners, -1)
      if (reaper !== undefined) this.#fibers.delete(fiber.id)
    }
    if (fiber.detached) this.#fibers.delete(fiber.id)
    this.#hooks.exited(fiber)
  }

  #joinQueue(target: Fiber): WaitQueue {
    let queue = this.#joinQueues.get(target)
    if (queue === undefined) {
      queue = new WaitQueue(() => `join of ${target}`)
      this.#joinQueues.set(target, queue)
    }
    return queue
  }
}
