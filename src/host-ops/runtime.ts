// SPDX-License-Identifier: MIT
/**
 * runtime.ts - the narrow interface the API layer (src/kernel.ts, src/syscalls.ts)
 * holds of a runtime: run an export on a fiber, keep worker threads, stage bytes in
 * guest memory for syscalls, plug in devices, the console, figures, failure and
 * close. instantiate()
 * (index.ts) provides it; nothing above src/host-ops reaches the scheduler, the
 * heap or the wasm memory in any other way.
 *
 * Declarations only, and free of WebAssembly types: the package's public .d.ts
 * includes this file, and a consumer compiles it without the DOM lib.
 */
import type { CallOutcome } from '../sched/call-outcome.js'

/**
 * How a runtime runs its threads (src/sched/trampoline.ts): 'asyncify' on an image
 * built with it (runs everywhere; boot snapshots), 'jspi' on one without it, where
 * the runtime has WebAssembly.Suspending (Node 26).
 */
export type FiberBackend = 'asyncify' | 'jspi'

declare const savedRuntime: unique symbol
/**
 * A runtime saved at rest (Runtime.snapshot): what it holds is snapshot.ts's,
 * opaque up here; plain data and typed arrays, so v8.serialize keeps it whole.
 */
export interface SavedRuntime {
  readonly [savedRuntime]: true
}

export interface CallOptions {
  /** The fiber's name in errors and traces. */
  name?: string
  priority?: number
  /** C stack, bytes. */
  stackSize?: number
  /** Asyncify buffer, bytes (the asyncify backend only: a JSPI thread has none). */
  bufferSize?: number
}

/** A thread that runs one export after another, keeping its identity and TLS. */
export interface RuntimeWorker<Export extends string = string> {
  /**
   * Run an export on the thread. When the CPU is free it runs at once, on the
   * caller's stack, and a call that does not block comes back settled, with no
   * promise made (the syscall fast path).
   */
  run(exportName: Export, args?: readonly number[]): CallOutcome
  /** run, as a promise. */
  call(exportName: Export, args?: readonly number[]): Promise<unknown>
  /** Between calls: a call that did not block has already settled when call() returns. */
  readonly idle: boolean
  /** End the thread: its TLS destructors run in it, then it exits. */
  retire(): Promise<void>
}

/**
 * Guest memory the kernel may read and write on a caller's behalf (syscall
 * arguments and buffers). Addresses are wasm addresses; copies go through here,
 * and views are lent only for the moment, so callers never keep a view of the
 * wasm memory (which may grow and move).
 */
export interface GuestMemory {
  /** size bytes aligned to align (a power of two), or 0 when out of memory. */
  alloc(size: number, align?: number): number
  /** Free a block from alloc. */
  free(address: number): void
  /** Copy bytes in at address. */
  write(address: number, bytes: Uint8Array): void
  /** Copy text in at address as UTF-8 and a NUL, within room bytes (its UTF-8 bytes and one more, at least). */
  writeString(address: number, text: string, room: number): void
  /** Copy into.length bytes out from address. */
  read(address: number, into: Uint8Array): void
  /** A view of length bytes at address; valid until the memory grows, so taken afresh after any await. */
  view(address: number, length: number): Uint8Array
}

export interface HeapStats {
  usedBytes: number
  peakBytes: number
  liveBlocks: number
  memoryBytes: number
}

export interface RuntimeStats {
  /** Threads (fibers) not yet ended. */
  liveFibers: number
  heap: HeapStats
  /** The deepest asyncify unwind seen, per thread name. */
  bufferHighWater: Map<string, number>
  /**
   * The user arena: the only memory the kernel accepts user pointers into, and
   * what of it calls in flight hold; null when the runtime has none.
   */
  userMemory: { start: number, size: number, usedBytes: number } | null
}

/**
 * What a device model (src/devices/) gets of the runtime it is plugged into:
 * copies to and from guest memory, its interrupt line, and the count of host I/O
 * the kernel waits on.
 */
export interface DeviceHost {
  /** Bytes of guest memory: every guest address a device touches lies below this. */
  memorySize(): number
  /** Copy into.length bytes out of guest memory at address (a range beyond memorySize() throws). */
  readGuest(address: number, into: Uint8Array): void
  /** Copy bytes into guest memory at address (a range beyond memorySize() throws). */
  writeGuest(address: number, bytes: Uint8Array): void
  /** Raise the device's interrupt line; the kernel's handler runs in a fiber of its own, later. */
  raiseIrq(): void
  /**
   * Host I/O the kernel will wait for has started: until the returned function
   * is called, a kernel with nothing to run is waiting, not deadlocked.
   */
  beginIo(): () => void
  /** Stop the runtime with error: the device found the kernel's side of it broken. */
  fail(error: Error): void
}

/** A device's register window, as the kernel reads and writes it (virtio-mmio). */
export interface DeviceRegisters {
  read(offset: number, size: number): number
  write(offset: number, size: number, value: number): void
}

/** The console as the C side printed it. */
export interface ConsoleText {
  /** Everything kept (the last 256 KiB). */
  text(): string
  /** The last lines, for error messages. */
  tail(): string
}

/** What the API may do with a runtime; Export names the module's callable exports. */
export interface Runtime<Export extends string = string> {
  /** Run an export on a new fiber; resolves with what it returns. */
  call(exportName: Export, args?: readonly number[], options?: CallOptions): Promise<unknown>
  /** A new worker thread, or null when there is no memory for its stack. */
  createWorker(options?: CallOptions): RuntimeWorker<Export> | null
  /** Where syscall arguments and buffers are staged. */
  readonly userMemory: GuestMemory
  /**
   * Plug a virtio-mmio device with a register window of size bytes into the
   * machine: the runtime reserves its IRQ line and address. Before boot it
   * announces the device on the kernel's command line, and resolves with null;
   * after, it resolves with the device as <size>@<base>:<irq>, for the caller to
   * write into /sys/module/uklkl/parameters/virtio_mmio_device (wasm/arch's
   * io.c), which plugs it into the running kernel.
   */
  plugDevice(name: string, size: number, create: (host: DeviceHost) => DeviceRegisters): Promise<string | null>
  readonly console: ConsoleText
  /**
   * Save the runtime at rest as a boot snapshot (snapshot.ts), for instantiate's
   * restore; an UklklError says why when it cannot be saved.
   */
  snapshot(): SavedRuntime
  stats(): RuntimeStats
  /** The error that stopped the runtime (a trap, a panic, a deadlock, misuse), or null. */
  readonly failure: Error | null
  readonly fibers: FiberBackend
  /** Stop the runtime with error: every pending and later call rejects. */
  fail(error: Error): void
  /**
   * The owner is ending the runtime (close() follows): threads left blocked when
   * the work runs out are expected, not a deadlock.
   */
  beginStop(): void
  /** End every thread and free their memory; pending calls reject with reason. */
  close(reason: Error): void
  /**
   * After close(), when the runtime stopped cleanly and nothing of it is in use:
   * its memory may serve the next runtime of the module restored from a snapshot
   * (memory-pool.ts; views of it are detached first).
   */
  release(): void
}

/**
 * The host ops a user may replace (startKernel({ hostOps }); replace.ts checks and
 * installs them), in JS shapes after LKL's struct lkl_host_operations members.
 */
export interface HostOpReplacements {
  /**
   * LKL's print: console text as the kernel writes it (printk). Must return at
   * once: it runs inside the kernel, which waits. The text is also kept for
   * k.console() and for the console tail of errors.
   */
  print?: (text: string) => void
  /**
   * LKL's panic: called once when the kernel panics, with the console tail, before
   * the kernel stops and pending calls reject with PanicError. Must return at once.
   */
  panic?: (consoleTail: string) => void
  /** LKL's time: the kernel's clock, ns, as a non-negative bigint that never goes back. */
  time?: () => bigint
  /** Ours: fill bytes with random bytes (the crng's seed and the kernel's entropy). */
  random?: (bytes: Uint8Array) => void
}
