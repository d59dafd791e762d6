// SPDX-License-Identifier: MIT
/**
 * snapshot.ts - a boot snapshot: a runtime at rest (a kernel just booted, every
 * thread blocked) saved as plain data, and loaded into a new instance of the same
 * module instead of booting it again.
 *
 * What it keeps: the memory that means something (below), the stack pointer, the
 * scheduler's clock, heap and threads (each blocked thread's stack and asyncify
 * buffer are in that memory; its jump points are copies), the semaphores, mutexes
 * and timers behind the kernel's handles with their numbers, the user arena's
 * bookkeeping and the console text. The loaded runtime's clock goes on from the
 * saved one, so the kernel's time and every armed timer's deadline stay as they
 * were; its threads go back into their wait queues in the saved order.
 *
 * Memory: the pages of the static area below the heap that boot changed (a new
 * instance starts with the module's data segments there; a throwaway instance
 * shows which those are); of the heap, the live
 * blocks, except the free pages of the kernel's RAM (kernel_free_pages: a free
 * page's bytes are never read before the kernel writes it), the parts of thread
 * stacks above each stack pointer, the used parts of asyncify buffers, and the
 * arena's blocks in use. Pages of the heap that are all zeros are left out: a new
 * instance's heap is zeros. On a host whose first touch of a page is dear, this
 * keeps both saving and loading to the pages that boot wrote.
 *
 * Limits: only a runtime with no devices (they hold host resources and state of
 * their own) and no host op replaced; the loaded kernel's random state is the
 * saved one's until its owner reseeds it (src/kernel.ts does).
 */
import { UklklError } from '../errors.js'
import type { Scheduler, SchedulerState } from '../sched/scheduler.js'
import type { HostContext } from './context.js'
import type { Handles } from './handles.js'
import type { MmioBus } from './iomem.js'
import type { BlockMakers } from './memory.js'
import type { Console } from './console.js'
import { type SyncRecord, loadSync, saveSync } from './sync.js'
import { type HostTimer, type TimerRecord, loadTimer, saveTimer } from './time.js'
import type { ArenaState, UserArena } from './user-memory.js'
import type { Mutex } from '../sched/mutex.js'
import type { Semaphore } from '../sched/semaphore.js'

const PAGE = 4096

/** Bytes of memory at address. */
export interface MemoryRange {
  readonly address: number
  readonly bytes: Uint8Array
}

export type HandleRecord = { readonly handle: number } & (
  | { readonly kind: 'semaphore' | 'mutex', readonly record: SyncRecord }
  | { readonly kind: 'timer', readonly record: TimerRecord })

/** A saved runtime; a change of its shape bumps FORMAT in src/boot-snapshots.ts, which keeps them on disk. */
export interface RuntimeSnapshot {
  readonly memory: readonly MemoryRange[]
  /** Pages of live blocks left out as zeros, [address, bytes]: a used memory gets them zeroed. */
  readonly zeros: readonly (readonly [number, number])[]
  readonly stackPointer: number
  readonly scheduler: SchedulerState
  readonly handles: { readonly next: number, readonly live: readonly HandleRecord[] }
  /** Which op of the memory family made each of its blocks: [address, op]. */
  readonly blockMakers: readonly (readonly [number, 'mem_alloc' | 'page_alloc'])[]
  readonly arena: ArenaState | null
  readonly console: string
}

/** The kernel_free_pages export: see host-ops.h. */
export type FreePagesExport = (start: number, bitmap: number, len: number) => number

/** The parts of a runtime a snapshot is saved from and loaded into. */
export interface SnapshotParts {
  readonly ctx: HostContext
  readonly sched: Scheduler
  readonly memory: WebAssembly.Memory
  readonly stackPointer: WebAssembly.Global
  /** Where the heap starts: below it lies the module's static data. */
  readonly heapBase: number
  /** The module: a throwaway instance of it shows the static data a new instance starts with. */
  readonly module: WebAssembly.Module
  readonly handles: Handles
  readonly blockMakers: BlockMakers
  readonly bus: MmioBus
  readonly console: Console
  readonly arena: UserArena | null
  readonly freePages: FreePagesExport
  /** The preemption fuel: kernel_free_pages runs outside any thread, so it must not run out. */
  readonly fuel: WebAssembly.Global | null
  /** Another instance had the memory before (memory-pool.ts): its pages are not zeros. */
  readonly memoryUsed: boolean
}

/** Save a runtime at rest; an UklklError says why it cannot be saved. */
export function saveRuntime(parts: SnapshotParts): RuntimeSnapshot {
  const { sched, handles } = parts
  if (parts.bus.devices.length > 0) throw new UklklError('a runtime with devices cannot be saved')
  if (sched.fibers === 'jspi') {
    throw new UklklError('a runtime whose fibers run on JSPI cannot be saved: a blocked thread\'s frames are a V8 stack, not wasm memory')
  }
  if (!sched.atRest) throw new UklklError('a runtime is saved only at rest (nothing running, runnable or awaited)')
  const freeRam = freeRamPages(parts)
  const scheduler = sched.save()
  const live = handles.save()
  const { ranges, zeros } = savedMemory(parts, scheduler, freeRam)
  return {
    memory: ranges,
    zeros,
    stackPointer: parts.stackPointer.value as number,
    scheduler,
    handles: {
      next: live.next,
      live: live.live.map(({ handle, kind, value }): HandleRecord => {
        if (kind === 'semaphore' || kind === 'mutex') return { handle, kind, record: saveSync(value as Semaphore | Mutex) }
        if (kind === 'timer') return { handle, kind, record: saveTimer(value as HostTimer) }
        throw new UklklError(`a runtime holding a ${kind} handle cannot be saved`)
      }),
    },
    blockMakers: [...parts.blockMakers],
    arena: parts.arena?.save() ?? null,
    console: parts.console.text(),
  }
}

/** Load snapshot into a new runtime of the same module and options, before anything has run in it. */
export function loadRuntime(parts: SnapshotParts, snapshot: RuntimeSnapshot): void {
  const { sched, ctx } = parts
  if (parts.bus.devices.length > 0) throw new UklklError('a boot snapshot loads only into a runtime without devices')
  // The saved kernel read its (empty) device list at boot.
  parts.bus.announce()
  if ((snapshot.arena === null) !== (parts.arena === null)) throw new UklklError('a boot snapshot and its runtime differ in their user arena')
  sched.load(snapshot.scheduler)
  const bytes = new Uint8Array(parts.memory.buffer)
  for (const range of snapshot.memory) bytes.set(range.bytes, range.address)
  if (parts.memoryUsed) for (const [address, length] of snapshot.zeros) bytes.fill(0, address, address + length)
  parts.stackPointer.value = snapshot.stackPointer
  if (snapshot.arena !== null) parts.arena?.load(snapshot.arena)
  parts.handles.load(snapshot.handles.next, snapshot.handles.live.map((h) => ({
    handle: h.handle,
    kind: h.kind,
    value: h.kind === 'timer' ? loadTimer(ctx, h.handle, h.record) : loadSync(sched, h.handle, h.record),
  })))
  for (const [address, op] of snapshot.blockMakers) parts.blockMakers.set(address, op)
  parts.console.append(snapshot.console)
}

/** The kernel's RAM and which of its pages are free, from kernel_free_pages. */
function freeRamPages(parts: SnapshotParts): { start: number, free: Uint8Array } {
  const { sched } = parts
  // One bit per page of RAM; the heap ends where the RAM could at most.
  const length = Math.ceil(parts.memory.buffer.byteLength / PAGE / 8)
  const scratch = sched.heap.alloc(length + 8)
  if (scratch === 0) throw new UklklError('no memory to ask the kernel for its free pages')
  try {
    if (parts.fuel !== null) parts.fuel.value = 0x7fff_ffff
    const pages = parts.freePages(scratch, scratch + 8, length)
    if (pages < 0) throw new UklklError(`kernel_free_pages failed with ${pages}`)
    const view = new DataView(parts.memory.buffer)
    const start = view.getUint32(scratch, true)
    return { start, free: new Uint8Array(parts.memory.buffer, scratch + 8, Math.ceil(pages / 8)).slice() }
  } finally {
    sched.heap.free(scratch)
  }
}

/** The first bytes of the memory of a new instance of module: its data segments, and zeros. */
function initialStatic(module: WebAssembly.Module, bytes: number, pages: number): Uint8Array {
  // Nothing runs in it (the module has no start function): its imports are never called.
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {}
  for (const { module: name, name: field, kind } of WebAssembly.Module.imports(module)) {
    (imports[name] ??= {})[field] = kind === 'memory' ? new WebAssembly.Memory({ initial: pages }) : () => {
      throw new UklklError('the snapshot\'s throwaway instance was called into')
    }
  }
  const { memory } = new WebAssembly.Instance(module, imports).exports
  if (!(memory instanceof WebAssembly.Memory)) throw new UklklError('the module exports no memory')
  return new Uint8Array(memory.buffer, 0, bytes).slice()
}

/** The memory that means something (see the file's head), as ranges of whole pages. */
function savedMemory(
  parts: SnapshotParts, scheduler: SchedulerState, ram: { start: number, free: Uint8Array },
): { ranges: MemoryRange[], zeros: [number, number][] } {
  const memory = new Uint8Array(parts.memory.buffer)
  const pages = new Uint8Array(memory.length / PAGE)
  const mark = (from: number, to: number): void => {
    pages.fill(1, Math.floor(from / PAGE), Math.ceil(to / PAGE))
  }
  const stacks = new Map(scheduler.lifecycle.fibers.map((f) => [f.stackBase, f]))
  const buffers = new Map(scheduler.lifecycle.fibers.map((f) => [f.buffer, f]))
  const view = new DataView(parts.memory.buffer)
  for (const [address, size] of parts.sched.heap.blocks()) {
    const stack = stacks.get(address)
    const buffer = buffers.get(address)
    if (address === ram.start) {
      for (let page = 0; page < size / PAGE; page++) {
        if ((ram.free[page >> 3]! & (1 << (page & 7))) === 0) mark(address + page * PAGE, address + (page + 1) * PAGE)
      }
    } else if (address === parts.arena?.start) {
      for (const [block, blockSize] of parts.arena.liveBlocks()) mark(block, block + blockSize)
    } else if (stack !== undefined) {
      mark(stack.stackBase, stack.stackBase + 4) // the canary
      mark(stack.sp, stack.stackBase + stack.stackSize)
    } else if (buffer !== undefined) {
      // The asyncify header's first word is where the saved frames end.
      mark(buffer.buffer, view.getUint32(buffer.buffer, true))
    } else {
      mark(address, address + size)
    }
  }
  const staticPages = Math.ceil(parts.heapBase / PAGE)
  // As large as the runtime's memory, which is at least what the module asks for.
  const initial = initialStatic(parts.module, staticPages * PAGE, parts.memory.buffer.byteLength / 65536)
  const changed = (page: number): boolean => {
    const start = page * PAGE
    for (let i = start; i < start + PAGE; i++) if (memory[i] !== initial[i]) return true
    return false
  }
  const words = new Uint32Array(parts.memory.buffer)
  const zero = (page: number): boolean => {
    for (let i = page * (PAGE / 4), end = i + PAGE / 4; i < end; i++) if (words[i] !== 0) return false
    return true
  }
  const ranges: MemoryRange[] = []
  const zeros: [number, number][] = []
  let first = -1
  for (let page = 0; page <= pages.length; page++) {
    const marked = page >= staticPages && page < pages.length && pages[page] === 1
    const isZero = marked && zero(page)
    const keep = page < staticPages ? changed(page) : marked && !isZero
    if (keep && first < 0) first = page
    if (!keep && first >= 0) {
      ranges.push({ address: first * PAGE, bytes: memory.slice(first * PAGE, page * PAGE) })
      first = -1
    }
    if (isZero) {
      const last = zeros.at(-1)
      if (last !== undefined && last[0] + last[1] === page * PAGE) last[1] += PAGE
      else zeros.push([page * PAGE, PAGE])
    }
  }
  return { ranges, zeros }
}
