// SPDX-License-Identifier: MIT
/**
 * index.ts - the host-ops table (the TS mirror of host-ops.h) and instantiate(),
 * which binds a module built by scripts/build-wasm.ts to a scheduler and this table.
 *
 * HostOps has one member per op of host-ops.h, family by family;
 * test/host-ops-boundary.test.ts checks that the two (and suspending.json) agree.
 * The runtime it returns is a HostRuntime; the API layer holds it as the narrow
 * Runtime of runtime.ts.
 */
import { UklklError } from '../errors.js'
import { Asyncify, type AsyncifyExports, hasAsyncify } from '../sched/asyncify.js'
import { hasJspi } from '../sched/jspi.js'
import { writeString } from '../sched/memory-views.js'
import { suspendingOps } from '../sched/jspi-trampoline.js'
import { type Fiber, type FiberRoot, PRIORITY_DEFAULT } from '../sched/fiber.js'
import { Scheduler, type SchedulerOptions } from '../sched/scheduler.js'
import { Console, type ConsoleOps, consoleOps } from './console.js'
import { HostContext } from './context.js'
import { Handles } from './handles.js'
import { LINKER_EXPORTS } from './header.js'
import { plugDevice } from './device-host.js'
import { type IomemOps, MmioBus, type MmioDevice, iomemOps } from './iomem.js'
import { type BlockMakers, type MemoryOps, memoryOps } from './memory.js'
import { type PreemptBinding, type PreemptOps, WATCHDOG_FUEL, preemptOps } from './preempt.js'
import { type RandomOps, type RandomSeed, randomOps } from './random.js'
import { type FreePagesExport, type RuntimeSnapshot, type SnapshotParts, loadRuntime, saveRuntime } from './snapshot.js'
import { type MemoryLimits, memoryPool } from './memory-pool.js'
import type { CallOptions, GuestMemory, Runtime, RuntimeWorker, SavedRuntime } from './runtime.js'
import type { FunctionNames } from './function-names.js'
import { type MutexOps, type SemaphoreOps, mutexOps, semaphoreOps } from './sync.js'
import { type ThreadOps, type TlsOps, threadOps, tlsOps } from './threads.js'
import { type TimeOps, timeOps } from './time.js'
import { traceOps } from './trace.js'
import { type HostOpReplacements, checkReplacements, replacementOps } from './replace.js'
import { UserArena, type UserMemoryOps, userMemoryOps } from './user-memory.js'
import { REPORT_BYTES, type SoftLockupReport, SoftLockupWatchdog } from './watchdog.js'
import suspendingImports from './suspending.json' with { type: 'json' }

export type HostOps = ConsoleOps & SemaphoreOps & MutexOps & ThreadOps & TlsOps & MemoryOps
  & TimeOps & IomemOps & PreemptOps & RandomOps & UserMemoryOps

export type { MmioDevice } from './iomem.js'
export type {
  CallOptions, ConsoleText, GuestMemory, HeapStats, Runtime, RuntimeStats, RuntimeWorker,
} from './runtime.js'
export type { SchedulerOptions } from '../sched/scheduler.js'
export { Console } from './console.js'
export { hasJspi } from '../sched/jspi.js'

/** The ops that may suspend (suspending.json, without the module name). */
export const SUSPENDING_OPS: ReadonlySet<string> = new Set(suspendingImports.map((name) => name.replace(/^host\./, '')))

/**
 * Make every op outside SUSPENDING_OPS throw if it tried to suspend: asyncify did
 * not instrument its callers, so the unwind it started could never complete.
 */
function guardSyncOps(ops: HostOps, ctx: HostContext): HostOps {
  const guarded: Record<string, (...args: never[]) => unknown> = {}
  for (const [name, op] of Object.entries(ops) as [string, (...args: never[]) => unknown][]) {
    if (SUSPENDING_OPS.has(name)) {
      guarded[name] = op
      continue
    }
    const guard = (...args: never[]): unknown => {
      const result = op(...args)
      if (ctx.sched.current.afterUnwind !== null) {
        throw ctx.misuse(name, 'tried to suspend, but it is not listed in suspending.json')
      }
      return result
    }
    // Keep the op's arity visible: the boundary test compares it with the header.
    guarded[name] = Object.defineProperty(guard, 'length', { value: op.length })
  }
  return guarded as unknown as HostOps
}

/** What the random, user-memory and preemption families are made with (see HostOptions). */
export interface HostOpsConfig {
  seed?: RandomSeed | undefined
  /** The instance's user arena once it exists. */
  userArena?: () => UserArena | null
  /** The instance's soft-lockup watchdog and watchdog fuel once they exist. */
  preempt?: PreemptBinding
  /** The user's own print, panic, time or random (replace.ts), checked by checkReplacements. */
  replacements?: HostOpReplacements | undefined
  /** The table of the handles C holds (a boot snapshot saves and loads it); a new one by default. */
  handles?: Handles
  /** Which op made each block of the memory family (the same); a new one by default. */
  blockMakers?: BlockMakers
}

export function createHostOps(ctx: HostContext, bus: MmioBus = new MmioBus(), config: HostOpsConfig = {}): HostOps {
  const handles = config.handles ?? new Handles(ctx)
  return guardSyncOps({
    ...consoleOps(ctx),
    ...semaphoreOps(ctx, handles),
    ...mutexOps(ctx, handles),
    ...threadOps(ctx),
    ...tlsOps(ctx),
    ...memoryOps(ctx, config.blockMakers),
    ...timeOps(ctx, handles),
    ...iomemOps(ctx, bus),
    ...preemptOps(ctx, config.preempt),
    ...randomOps(ctx, config.seed),
    ...userMemoryOps(ctx, config.userArena ?? (() => null)),
    ...replacementOps(ctx, config.replacements ?? {}),
  }, ctx)
}

export interface HostOptions {
  scheduler?: Partial<SchedulerOptions>
  /** Console text as it arrives (it is also kept: runtime.console). */
  onConsole?: (text: string) => void
  /** The tracing switch: every host op, as one line each. */
  trace?: (line: string) => void
  devices?: readonly MmioDevice[]
  /** Makes the random op a deterministic stream of this seed (random.ts). */
  seed?: RandomSeed | undefined
  /**
   * Reserve a user arena of this many bytes: syscall arguments are staged there
   * (runtime.userMemory), and the user_memory op names it. Without it,
   * userMemory is the heap and the op reports no arena.
   */
  userMemoryBytes?: number | undefined
  /**
   * The soft-lockup bound, ms: a module exporting kernel_soft_lockup (the kernel)
   * whose CPU is held longer fails with a SoftLockupError (watchdog.ts). 0 or
   * undefined: no watchdog.
   */
  softLockupMs?: number | undefined
  /** Ops replaced by the user (replace.ts): checked here, before the module is instantiated. */
  hostOps?: HostOpReplacements | undefined
  /**
   * Start from this boot snapshot of a runtime of the same module and options
   * (snapshot.ts) instead of from scratch: the runtime is at rest, as the saved
   * one was. Only without devices and replaced ops.
   */
  restore?: SavedRuntime | undefined
  /**
   * The limits a module that imports its memory (env.memory: the kernel image)
   * declares: the runtime gives it a new memory, or, for a restore, one a
   * released runtime of the module had (memory-pool.ts).
   */
  memoryLimits?: MemoryLimits | undefined
  /**
   * The module's function names, for a module built without its name section
   * (the kernel image: lkl.names): the stacks of the error that fails the runtime
   * get them (function-names.ts).
   */
  functionNames?: FunctionNames | undefined
}

/**
 * Name the wasm frames of the error that fails the runtime before anyone sees it:
 * onFailure runs inside fail(), and the rejections fail() issues reach their
 * handlers only afterwards (promise reactions are microtasks).
 */
function withFrameNames(
  scheduler: Partial<SchedulerOptions> | undefined, names: FunctionNames | undefined,
): Partial<SchedulerOptions> | undefined {
  if (names === undefined) return scheduler
  const onFailure = scheduler?.onFailure
  return {
    ...scheduler,
    onFailure: (error) => {
      names.nameFrames(error)
      onFailure?.(error)
    },
  }
}

/** A worker, with its fiber for tests of the runtime. */
export interface Worker extends RuntimeWorker {
  readonly fiber: Fiber
}

/** The whole runtime, for the runtime's own tests and tools; the API holds only its Runtime part. */
export interface HostRuntime extends Runtime {
  readonly instance: WebAssembly.Instance
  readonly sched: Scheduler
  readonly console: Console
  createWorker(options?: CallOptions): Worker | null
}

/** The exports instantiate() itself uses: the linker's, and host_entry (host-ops.h). */
export const HOST_RUNTIME_EXPORTS: readonly string[] = [...LINKER_EXPORTS, 'host_entry']

/** Guest memory on the runtime's heap, copied through fresh views (the memory may have grown). */
function heapMemory(sched: Scheduler, memory: WebAssembly.Memory): GuestMemory {
  return {
    alloc: (size, align) => sched.heap.alloc(size, align),
    free: (address) => {
      if (sched.heap.free(address) < 0) throw new UklklError(`free of 0x${address.toString(16)}: not a live block`)
    },
    write: (address, bytes) => new Uint8Array(memory.buffer).set(bytes, address),
    writeString: (address, text, room) => writeString(new Uint8Array(memory.buffer, address, room), text),
    read: (address, into) => into.set(new Uint8Array(memory.buffer, address, into.length)),
    view: (address, length) => new Uint8Array(memory.buffer, address, length),
  }
}

/** Instantiate module against a fresh scheduler and host-ops table. */
export async function instantiate(module: WebAssembly.Module, options: HostOptions = {}): Promise<HostRuntime> {
  const console = new Console(options.onConsole)
  const ctx = new HostContext(console)
  let sched: Scheduler | null = null
  let userArena: UserArena | null = null
  let watchdog: SoftLockupWatchdog | null = null
  let watchdogFuel: WebAssembly.Global | null = null
  // Every op of the table, so that a misspelt or irreplaceable name is told apart.
  const replacements = options.hostOps === undefined
    ? undefined : checkReplacements(options.hostOps, new Set(Object.keys(createHostOps(ctx))))
  const bus = new MmioBus(options.devices)
  const handles = new Handles(ctx)
  const blockMakers: BlockMakers = new Map()
  const ops = createHostOps(ctx, bus, {
    handles,
    blockMakers,
    replacements,
    seed: options.seed,
    userArena: () => userArena,
    preempt: { watchdog: () => watchdog, watchdogFuel: () => watchdogFuel },
  })
  const traced = options.trace === undefined ? ops : traceOps(ops, () => sched!, options.trace)
  const exportNames = new Set(WebAssembly.Module.exports(module).map((e) => e.name))
  for (const name of HOST_RUNTIME_EXPORTS) {
    if (!exportNames.has(name)) throw new UklklError(`the module lacks the export ${name}: build it with scripts/build-wasm.ts`)
  }
  // A module without asyncify runs its fibers on JSPI: its suspending ops are Suspending imports.
  const asyncified = hasAsyncify(exportNames)
  if (!asyncified && !hasJspi()) {
    throw new UklklError('the module is not asyncified and this runtime has no JSPI (WebAssembly.Suspending, Node 26): '
      + 'run it on Node 26, or build it with asyncify (scripts/build-wasm.ts)')
  }
  const imports = asyncified ? traced : suspendingOps(traced, SUSPENDING_OPS)
  const importsMemory = WebAssembly.Module.imports(module).some((i) => i.module === 'env' && i.kind === 'memory')
  if (importsMemory && options.memoryLimits === undefined) throw new UklklError('the module imports its memory: give its limits (options.memoryLimits)')
  const pool = importsMemory && options.memoryLimits !== undefined ? memoryPool(module, options.memoryLimits) : null
  const given = pool?.take(options.restore !== undefined) ?? null
  let released = false
  // Synchronously: the module is compiled already, and WebAssembly.instantiate() took ~7 ms more
  // for the same work (a kernel loaded from a snapshot started in 11-15 ms with it, 4-6 without).
  const instance = new WebAssembly.Instance(module, {
    host: imports as unknown as WebAssembly.ModuleImports,
    ...(given === null ? {} : { env: { memory: given.memory } }),
  })
  const exports = instance.exports
  const memory = exports.memory as WebAssembly.Memory
  const hostEntry = exports.host_entry as (fn: number, arg: number) => unknown
  sched = new Scheduler({
    memory,
    stackPointer: exports.__stack_pointer as WebAssembly.Global,
    heapBase: (exports.__heap_base as WebAssembly.Global).value as number,
    asyncify: asyncified ? new Asyncify(exports as unknown as AsyncifyExports) : null,
    fuel: (exports.uklkl_fuel as WebAssembly.Global | undefined) ?? null,
    hostEntry,
  }, withFrameNames(options.scheduler, options.functionNames))
  ctx.bind(sched, memory, hostEntry)
  if (options.userMemoryBytes !== undefined) {
    userArena = UserArena.reserve(sched.heap, memory, options.userMemoryBytes)
    if (userArena === null) throw new UklklError(`no memory for a user arena of ${options.userMemoryBytes} bytes`)
  }
  watchdogFuel = (exports.uklkl_watchdog_fuel as WebAssembly.Global | undefined) ?? null
  if (watchdogFuel !== null) watchdogFuel.value = WATCHDOG_FUEL
  const report = exports.kernel_soft_lockup
  if (options.softLockupMs !== undefined && options.softLockupMs > 0 && typeof report === 'function') {
    const clock = sched
    const scratch = clock.heap.alloc(REPORT_BYTES)
    if (scratch === 0) throw new UklklError('no memory for the soft-lockup watchdog')
    const fuel = (exports.uklkl_fuel as WebAssembly.Global | undefined) ?? null
    // The report is called from inside a host op, so not through WebAssembly.promising: on JSPI a
    // fuel check in it must not reach preempt_tick (a Suspending import traps there even when it
    // would not suspend). It runs with the fuel topped up, and the fiber's own fuel goes back after.
    const checked = report as SoftLockupReport
    const reportWithFuel: SoftLockupReport = (boundMs, scratchAt, bytes) => {
      const left = fuel?.value as number | undefined
      if (fuel !== null) fuel.value = 0x7fff_ffff
      try {
        return checked(boundMs, scratchAt, bytes)
      } finally {
        if (fuel !== null) fuel.value = left
      }
    }
    watchdog = new SoftLockupWatchdog(options.softLockupMs, reportWithFuel, scratch,
      (address, length) => new Uint8Array(memory.buffer, address, length).slice(), () => clock.now())
  }
  const runtimeSched = sched
  const snapshotParts = (): SnapshotParts => ({
    ctx, sched: runtimeSched, memory, handles, blockMakers, bus, console, arena: userArena,
    stackPointer: exports.__stack_pointer as WebAssembly.Global,
    heapBase: (exports.__heap_base as WebAssembly.Global).value as number,
    module,
    freePages: exported('kernel_free_pages') as unknown as FreePagesExport,
    fuel: (exports.uklkl_fuel as WebAssembly.Global | undefined) ?? null,
    memoryUsed: given?.used ?? false,
  })
  const exported = (name: string): FiberRoot['fn'] => {
    const fn = exports[name]
    if (typeof fn !== 'function') throw new UklklError(`the module has no exported function ${name}`)
    return fn as FiberRoot['fn']
  }
  const spawnOptions = (options: CallOptions, name: string) => ({
    name: options.name ?? name,
    priority: options.priority ?? PRIORITY_DEFAULT,
    ...(options.stackSize === undefined ? {} : { stackSize: options.stackSize }),
    ...(options.bufferSize === undefined ? {} : { bufferSize: options.bufferSize }),
  })
  if (options.restore !== undefined) {
    if (options.hostOps !== undefined) throw new UklklError('a boot snapshot loads only into a runtime whose host ops are all its own')
    loadRuntime(snapshotParts(), options.restore as unknown as RuntimeSnapshot)
  }
  return {
    instance,
    sched: runtimeSched,
    console,
    snapshot: () => saveRuntime(snapshotParts()) as unknown as SavedRuntime,
    userMemory: userArena ?? heapMemory(runtimeSched, memory),
    stats: () => ({
      liveFibers: runtimeSched.liveFibers,
      heap: runtimeSched.heap.stats,
      bufferHighWater: new Map(runtimeSched.bufferHighWater),
      userMemory: userArena === null ? null
        : { start: userArena.start, size: userArena.size, usedBytes: userArena.stats.usedBytes },
    }),
    get failure() {
      return runtimeSched.failure
    },
    fibers: runtimeSched.fibers,
    fail: (error) => runtimeSched.fail(error),
    beginStop: () => runtimeSched.beginStop(),
    close: (reason) => {
      runtimeSched.close(reason)
      userArena?.close()
    },
    release() {
      if (runtimeSched.failure === null) throw new UklklError('a runtime is released only once it is closed')
      // Once: a memory given back twice could go to two kernels.
      // Views only the runtime held die with it; views its users were lent must be emptied (a runtime without an arena lends them all).
      // Only a restore takes a kept memory, and only an asyncify module restores: a JSPI one's would be kept for nothing.
      if (pool !== null && given !== null && !released && asyncified) pool.give(given.memory, { detach: userArena?.lentViews ?? true })
      released = true
    },
    async call(exportName, args = [], callOptions = {}) {
      return runtimeSched.call({ ...spawnOptions(callOptions, exportName), root: { fn: exported(exportName), args } })
    },
    plugDevice(name, size, create) {
      return plugDevice({
        sched: runtimeSched, memory, bus,
        getFreeIrq: exported('kernel_get_free_irq'), triggerIrq: exported('kernel_trigger_irq'),
        markIrq: exported('kernel_mark_irq'),
      }, name, size, create)
    },
    createWorker(options = {}) {
      const fiber = runtimeSched.createWorker(spawnOptions(options, 'worker'))
      if (fiber === null) return null
      return {
        fiber,
        run(exportName, args = []) {
          try {
            return runtimeSched.callOn(fiber, { fn: exported(exportName), args })
          } catch (error) {
            return { settled: false, promise: Promise.reject(error) }
          }
        },
        call(exportName, args = []) {
          const outcome = this.run(exportName, args)
          return outcome.settled ? Promise.resolve(outcome.value) : outcome.promise
        },
        get idle() {
          return fiber.state === 'idle'
        },
        retire: () => runtimeSched.retire(fiber),
      }
    },
  }
}
