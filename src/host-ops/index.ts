// SPDX-License-Identifier: MIT
/**
 * index.ts - the host-ops table (the TS mirror of host-ops.h) and instantiate(),
 * which binds a module built by scripts/build-wasm.ts to a scheduler and this table.
 *
 * HostOps has one member per op of host-ops.h, family by family;
 * test/host-ops-boundary.test.ts checks that the two (and suspending.json) agree.
 */
import { UklklError } from '../errors.js'
import { Asyncify, type AsyncifyExports, hasAsyncify } from '../sched/asyncify.js'
import { type Fiber, type FiberRoot, PRIORITY_DEFAULT } from '../sched/fiber.js'
import { Scheduler, type SchedulerOptions } from '../sched/scheduler.js'
import { Console, type ConsoleOps, consoleOps } from './console.js'
import { HostContext } from './context.js'
import { Handles } from './handles.js'
import { type IomemOps, type MmioDevice, iomemOps } from './iomem.js'
import { type JumpOps, jumpOps } from './jump.js'
import { type MemoryOps, memoryOps } from './memory.js'
import { type PreemptOps, preemptOps } from './preempt.js'
import { type MutexOps, type SemaphoreOps, mutexOps, semaphoreOps } from './sync.js'
import { type ThreadOps, type TlsOps, threadOps, tlsOps } from './threads.js'
import { type TimeOps, timeOps } from './time.js'
import { traceOps } from './trace.js'
import suspendingImports from './suspending.json' with { type: 'json' }

export type HostOps = ConsoleOps & SemaphoreOps & MutexOps & ThreadOps & TlsOps & MemoryOps
  & TimeOps & IomemOps & JumpOps & PreemptOps

export type { MmioDevice } from './iomem.js'
export { Console } from './console.js'

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

export function createHostOps(ctx: HostContext, devices: readonly MmioDevice[] = []): HostOps {
  const handles = new Handles(ctx)
  return guardSyncOps({
    ...consoleOps(ctx),
    ...semaphoreOps(ctx, handles),
    ...mutexOps(ctx, handles),
    ...threadOps(ctx),
    ...tlsOps(ctx),
    ...memoryOps(ctx),
    ...timeOps(ctx, handles),
    ...iomemOps(ctx, devices),
    ...jumpOps(ctx),
    ...preemptOps(ctx),
  }, ctx)
}

export interface HostOptions {
  scheduler?: Partial<SchedulerOptions>
  /** Console text as it arrives (it is also kept: runtime.console). */
  onConsole?: (text: string) => void
  /** The tracing switch: every host op, as one line each. */
  trace?: (line: string) => void
  devices?: readonly MmioDevice[]
}

export interface CallOptions {
  name?: string
  priority?: number
  stackSize?: number
  bufferSize?: number
}

/** A thread that runs one export after another, keeping its identity and TLS. */
export interface Worker {
  readonly fiber: Fiber
  call(exportName: string, args?: readonly number[]): Promise<unknown>
  /** End the thread: its TLS destructors run in it, then it exits. */
  retire(): Promise<void>
}

export interface HostRuntime {
  readonly instance: WebAssembly.Instance
  readonly sched: Scheduler
  readonly console: Console
  /** Run an export on a new fiber; resolves with what it returns. */
  call(exportName: string, args?: readonly number[], options?: CallOptions): Promise<unknown>
  /** A new worker thread, or null when there is no memory for its stack. */
  createWorker(options?: CallOptions): Worker | null
}

const REQUIRED_EXPORTS = ['memory', '__stack_pointer', '__heap_base', 'host_entry'] as const

/** Instantiate module against a fresh scheduler and host-ops table. */
export async function instantiate(module: WebAssembly.Module, options: HostOptions = {}): Promise<HostRuntime> {
  const console = new Console(options.onConsole)
  const ctx = new HostContext(console)
  let sched: Scheduler | null = null
  const ops = createHostOps(ctx, options.devices)
  const imports = options.trace === undefined ? ops : traceOps(ops, () => sched!, options.trace)
  const instance = await WebAssembly.instantiate(module, { host: imports as unknown as WebAssembly.ModuleImports })
  const exports = instance.exports
  for (const name of REQUIRED_EXPORTS) {
    if (!(name in exports)) throw new UklklError(`the module lacks the export ${name}: build it with scripts/build-wasm.ts`)
  }
  if (!hasAsyncify(exports)) throw new UklklError('the module is not asyncified: build it with scripts/build-wasm.ts')
  const memory = exports.memory as WebAssembly.Memory
  const hostEntry = exports.host_entry as (fn: number, arg: number) => unknown
  sched = new Scheduler({
    memory,
    stackPointer: exports.__stack_pointer as WebAssembly.Global,
    heapBase: (exports.__heap_base as WebAssembly.Global).value as number,
    asyncify: new Asyncify(exports as unknown as AsyncifyExports),
    fuel: (exports.uklkl_fuel as WebAssembly.Global | undefined) ?? null,
    hostEntry,
  }, options.scheduler)
  ctx.bind(sched, memory, hostEntry)
  const runtimeSched = sched
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
  return {
    instance,
    sched: runtimeSched,
    console,
    async call(exportName, args = [], callOptions = {}) {
      return runtimeSched.call({ ...spawnOptions(callOptions, exportName), root: { fn: exported(exportName), args } })
    },
    createWorker(options = {}) {
      const fiber = runtimeSched.createWorker(spawnOptions(options, 'worker'))
      if (fiber === null) return null
      return {
        fiber,
        async call(exportName, args = []) {
          return runtimeSched.callOn(fiber, { fn: exported(exportName), args })
        },
        retire: () => runtimeSched.retire(fiber),
      }
    },
  }
}
