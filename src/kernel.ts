// SPDX-License-Identifier: MIT
/**
 * kernel.ts - startKernel() and the kernel object users hold: k.sys for every
 * syscall of the kernel's table, constants and struct codecs from its uapi, host
 * threads, halt.
 *
 * Syscalls run on workers: host threads that the kernel knows as tasks (threads
 * of pid 1). k.sys takes an idle worker for each call, so calls in flight at once
 * run on different threads and a blocking read does not stop a write; k.thread()
 * gives a caller a thread of its own. Each kernel is its own wasm instance: its
 * memory, filesystems and network stack are its alone.
 *
 * The API holds the runtime through the narrow Runtime interface of
 * src/host-ops/runtime.ts: it never touches the scheduler, the heap or the wasm
 * memory. Its types (k.sys, k.constants, the structs) are generated from the
 * kernel build into src/generated/.
 *
 * Limits: the kernel image (build/lkl.wasm and build/kernel-data.json) must have
 * been built (npm run build:kernel); there is one CPU, so syscalls in flight take
 * turns inside the kernel.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { findBootSnapshot, forgetBootSnapshot, keepBootSnapshot } from './boot-snapshots.js'
import type { BlockBackend } from './devices/block/backends.js'
import { DEFAULT_IO_TIMEOUT_MS, VirtioBlk } from './devices/block/virtio-blk.js'
import { type NetBackend, VirtioNet } from './devices/net/virtio-net.js'
import { MMIO_WINDOW, VirtioMmio } from './devices/virtio/mmio.js'
import { type DiskMountOptions, KernelDisk, mountDisk, unmount } from './disk.js'
import { KernelStoppedError, LinuxError, UklklError } from './errors.js'
import { type KernelFs, kernelFs } from './fs/index.js'
import { KernelBuffer } from './kernel-buffer.js'
import { compileKernel, importedMemory } from './kernel-compile.js'
// src/generated/ is written by `npm run build:kernel` from the built kernel: build it first.
import {
  type Constants, KERNEL_EXPORTS, KERNEL_VERSION, type KernelExport, STRUCT_DECODERS, type StructInit, type StructName,
  type Structs, SYSCALL_NAMES, type Syscalls, constantTable, syscallTable,
} from './generated/kernel-api.js'
import { LINKER_EXPORTS } from './host-ops/header.js'
import { FunctionNames } from './host-ops/function-names.js'
import { hasJspi, instantiate } from './host-ops/index.js'
import type {
  DeviceHost, DeviceRegisters, FiberBackend, HostOpReplacements, Runtime, RuntimeStats, RuntimeWorker, SavedRuntime,
} from './host-ops/runtime.js'
import type { KernelData, StructLayout, SyscallInfo } from './kernel-data.js'
import { KernelNet, KernelNic } from './net/index.js'
import { encodeStruct, fieldReader } from './structs.js'
import { type SyscallTarget, bindSyscall, bindSyscalls } from './syscalls.js'
import { type RunWasiOptions, type WasiProgram, runWasi } from './wasi/run.js'

/** Scheduler settings a kernel may tune (src/sched's SchedulerOptions). */
export interface SchedulerTuning {
  /** C stack of each kernel thread, bytes. */
  stackSize?: number
  /** Asyncify buffer of each thread, bytes: how deep a thread may be when it blocks (asyncify only; a JSPI thread has none). */
  bufferSize?: number
  /** Period of the scheduler tick, ms. */
  tickMs?: number
  /** Ticks a thread may run before others of its priority get a turn. */
  quantumTicks?: number
  /** Longest stretch of kernel work before Node's event loop gets a turn, ms. */
  hostSliceMs?: number
  /** Loop iterations between two reads of the clock. */
  fuel?: number
}

export interface KernelOptions {
  /** The kernel's RAM (mem=), MiB; 64 by default. */
  memoryMiB?: number
  /**
   * The user arena, MiB; 16 by default. Syscall arguments are staged there (the
   * argument block, strings, buffers), and it is the only memory the kernel
   * accepts user pointers into: any other address gives EFAULT. A call whose
   * arguments do not fit (together with those of the calls in flight) is
   * rejected with a RangeError. Untouched parts cost no physical memory.
   */
  userMemoryMiB?: number
  /**
   * Makes the kernel's random source a deterministic stream of this seed, for
   * reproducible runs: kernels started with the same seed return the same bytes
   * from the same sequence of getrandom calls and reads of /dev/random and
   * /dev/urandom. Without it the kernel is seeded
   * from the host's cryptographic RNG. Not for secrets.
   */
  seed?: number | bigint | Uint8Array
  /**
   * The soft-lockup bound, ms; 20 000 by default (Linux's), 0 for none. A kernel
   * task that holds the CPU this long without a switch (a syscall spinning in the
   * kernel) ends the kernel with a SoftLockupError naming it, listing the kernel's
   * tasks, instead of keeping every other call out for good.
   */
  softLockupMs?: number
  /**
   * Host ops replaced by the caller, as LKL embedders replace theirs: print, panic,
   * time, random (see HostOpReplacements; lkl_host_ops in uklkl/lkl is a full set).
   * Checked at start: an unknown op, one the runtime must keep, or an async
   * function is a TypeError.
   */
  hostOps?: HostOpReplacements
  /**
   * Disks (virtio-blk), in order vda, vdb, …: fileDisk(path), memoryDisk(bytes),
   * overlayDisk(base), or any BlockBackend. Each is opened before boot and closed
   * (flushed, its lock released) when the kernel stops.
   */
  disks?: readonly BlockBackend[]
  /**
   * How long a disk request may wait for its backend, ms; 30 000 by default
   * (Linux's block-layer timeout), 0 for ever. A request past it fails with EIO
   * for its caller (a boot or mount that needed it goes on or fails, rather than
   * hanging), and the backend's late answer is dropped.
   */
  diskTimeoutMs?: number
  /**
   * NICs (virtio-net), one per backend: nic(netSwitch()) for kernels of this
   * process, streamSocket(target) for frames over a socket. Each is opened
   * before boot and closed when the kernel stops; k.net configures them.
   */
  nics?: readonly NetBackend[]
  /** Appended to the kernel command line. */
  cmdline?: string
  /** Console text as it arrives; it is also kept (k.console()). */
  onConsole?: (text: string) => void
  /** Log every host op (the tracing switch). */
  trace?: (line: string) => void
  /** A kernel image other than the package's own build (loadKernelImage(dir)). */
  image?: KernelImage
  /**
   * Which build of the package's kernel runs it (LoadImageOptions.fibers): by
   * default 'jspi' where the runtime has JSPI (Node 26), else 'asyncify'. With
   * image, the image's own (a different value is a TypeError).
   */
  fibers?: FiberBackend
  /**
   * Start from a boot snapshot (true by default): the first kernel of an image and
   * these options boots and is saved at rest; later ones are loaded from that save
   * instead of booting, in a fraction of the time, and get fresh entropy (their
   * random state is reseeded from the host). true keeps saves in the process and
   * in a cache directory for later processes (boot-snapshots.ts), 'process' only
   * in the process, false always boots. A kernel so started gets its disks and NICs
   * once it runs (addDisk, addNic); with false, a seed, replaced host ops or tracing
   * it boots with them.
   */
  snapshot?: boolean | 'process'
  scheduler?: SchedulerTuning
}

/** A compiled kernel (lkl.wasm and its data), from loadKernelImage(); any number of kernels may boot from one. */
export interface KernelImage {
  readonly data: KernelData
  /** How kernels of this image run their threads (LoadImageOptions.fibers). */
  readonly fibers: FiberBackend
  /** k.constants of kernels of this image: its uapi constants and errno values. */
  readonly constants: Constants
}

/**
 * The compiled module of each image loadKernelImage() made (only those boot), its
 * function names, and the SHA-256 of its bytes (which names its boot snapshots).
 */
const imageModules = new WeakMap<KernelImage, {
  module: WebAssembly.Module, names: FunctionNames | undefined, digest: string,
  /** The limits of the memory the image imports; null for an older image that defines its own. */
  memoryLimits: { initial: number, maximum: number | undefined } | null,
}>()

const DEFAULT_IMAGE_DIR = new URL('../build/', import.meta.url)
const images = new Map<string, Promise<KernelImage>>()

/**
 * Check an image against the generated API types (names of exports, syscalls,
 * constants and structs); a mismatch means they come from different builds.
 */
function imageFrom(
  module: WebAssembly.Module, names: FunctionNames | undefined, digest: string,
  memoryLimits: { initial: number, maximum: number | undefined } | null, data: KernelData, where: string,
  fibers: FiberBackend,
): KernelImage {
  const problems: string[] = []
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name))
  for (const name of [...LINKER_EXPORTS, ...KERNEL_EXPORTS]) if (!exported.has(name)) problems.push(`export ${name}`)
  const syscalls = new Set(data.syscalls.map((s) => s.name))
  for (const name of SYSCALL_NAMES) if (!syscalls.has(name)) problems.push(`syscall ${name}`)
  const constants = constantTable((name) => {
    const value = data.constants[name] ?? data.errno[name]
    if (value === undefined) problems.push(`constant ${name}`)
    return value ?? Number.NaN
  })
  for (const name of Object.keys(STRUCT_DECODERS)) if (data.structs[name] === undefined) problems.push(`struct ${name}`)
  if (problems.length > 0) {
    throw new UklklError(`the kernel image in ${where} does not match the API types of this package (Linux ${KERNEL_VERSION}): ` +
      `it lacks ${problems.slice(0, 8).join(', ')}${problems.length > 8 ? ` and ${problems.length - 8} more` : ''}`)
  }
  const image = { data, constants, fibers }
  imageModules.set(image, { module, names, digest, memoryLimits })
  return image
}

/** How V8 tiers the kernel's code up: 'deferred' (the default) or V8's own tiering. */
export type KernelTiering = 'deferred' | 'v8'

export interface LoadImageOptions {
  /**
   * How V8 tiers the kernel's code up (kernel-compile.ts): 'deferred' (the default)
   * keeps V8's optimizing compiler off the code a boot runs, so a fresh process boots
   * several times faster; 'v8' leaves V8's own tiering.
   */
  tiering?: KernelTiering
  /**
   * Which of the folder's two builds of the kernel to load: 'jspi' (lkl-jspi.wasm,
   * no asyncify: half the size, faster; needs WebAssembly.Suspending, Node 26, and
   * boots every kernel, no boot snapshots) or 'asyncify' (lkl.wasm: runs on any
   * Node, boot snapshots). By default 'jspi' where the runtime has JSPI and the
   * folder has that build, else 'asyncify'.
   */
  fibers?: FiberBackend
}

/** The image file of each fiber backend, and its function names. */
const IMAGE_FILES: Record<FiberBackend, { wasm: string, names: string }> = {
  asyncify: { wasm: 'lkl.wasm', names: 'lkl.names' },
  jspi: { wasm: 'lkl-jspi.wasm', names: 'lkl-jspi.names' },
}

/** The backend loadKernelImage uses when not told: JSPI where the runtime and the folder have it. */
function defaultFibers(dir: URL): FiberBackend {
  return hasJspi() && existsSync(new URL(IMAGE_FILES.jspi.wasm, dir)) ? 'jspi' : 'asyncify'
}

/**
 * Load (once per process, folder and tiering) the kernel image built into dir (lkl.wasm and
 * kernel-data.json, and lkl.names, the function names the image leaves out of
 * lkl.wasm, for error stacks; an image built before it existed has its names inside).
 */
export function loadKernelImage(dir: URL = DEFAULT_IMAGE_DIR, options: LoadImageOptions = {}): Promise<KernelImage> {
  const tiering = options.tiering ?? 'deferred'
  if (tiering !== 'deferred' && tiering !== 'v8') {
    return Promise.reject(new TypeError(`options.tiering must be 'deferred' or 'v8', not ${String(tiering)}`))
  }
  const fibers = options.fibers ?? defaultFibers(dir)
  if (fibers !== 'asyncify' && fibers !== 'jspi') {
    return Promise.reject(new TypeError(`options.fibers must be 'asyncify' or 'jspi', not ${String(fibers)}`))
  }
  if (fibers === 'jspi' && !hasJspi()) {
    return Promise.reject(new UklklError(`the JSPI kernel needs WebAssembly.Suspending, which Node ${process.versions.node} lacks ` +
      "(Node 26 has it): load the asyncify build (fibers: 'asyncify')"))
  }
  const key = `${tiering} ${fibers} ${dir.href}`
  let image = images.get(key)
  if (image === undefined) {
    image = (async () => {
      const files = IMAGE_FILES[fibers]
      const [wasm, data, names] = await Promise.all([
        readFile(new URL(files.wasm, dir)),
        readFile(new URL('kernel-data.json', dir), 'utf8'),
        readFile(new URL(files.names, dir), 'utf8').catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
          throw error
        }),
      ]).catch((error: unknown) => {
        throw new UklklError(`no kernel image (${files.wasm}, kernel-data.json) in ${dir.pathname}: an installed package ` +
          'ships one, so reinstall it; in a checkout, run npm run build:kernel', { cause: error })
      })
      const functionNames = names === undefined ? undefined : new FunctionNames(names)
      const compiling = compileKernel(wasm, tiering)
      // Hashed while V8 compiles on its own threads.
      const digest = createHash('sha256').update(wasm).digest('hex')
      return imageFrom(await compiling, functionNames, digest, importedMemory(wasm), JSON.parse(data) as KernelData, dir.pathname, fibers)
    })()
    images.set(key, image)
    image.catch(() => images.delete(key))
  }
  return image
}

export interface MountOptions {
  /** The mount point, created if missing; /fstype by default. */
  target?: string
  /** MS_* flags (k.constants), 0 by default. */
  flags?: number
  /** The filesystem's option string, e.g. 'size=1m,mode=0755'. */
  data?: string
}

/** A host thread of the kernel's: its syscalls all come from the same task. */
export interface KernelThread extends AsyncDisposable {
  readonly sys: Syscalls
  /** End the thread; the kernel retires its task. */
  exit(): Promise<void>
}

export type HostSelftest = 'mutex' | 'semaphore' | 'join'

/** What startKernel hands the Kernel it made. */
export interface KernelSetup {
  /** The devices plugged in before boot. */
  disks?: KernelDisk[]
  nics?: KernelNic[]
  /** KernelOptions.diskTimeoutMs, for disks plugged in later. */
  diskTimeoutMs?: number
  /** It was loaded from a boot snapshot. */
  restored?: boolean
}

/** The host's view of a kernel: live threads, its heap, the deepest asyncify unwind per thread name. */
export type KernelStats = RuntimeStats

/** What k.syscall takes for each argument: one 4-byte slot each; bytes are passed as their address. */
export type RawSyscallArg = number | bigint | Uint8Array

export interface HaltOptions {
  /** How long the kernel may take to shut down before it is stopped by force, ms; 5000 by default. */
  timeoutMs?: number
}

/* A clean halt takes milliseconds; five seconds means the kernel is wedged. */
const HALT_TIMEOUT_MS = 5000

/** Idle workers kept for k.sys between calls; more are retired. */
const IDLE_WORKERS = 16

type Worker = RuntimeWorker<KernelExport>

export class Kernel implements AsyncDisposable {
  /** One function per syscall of the kernel's table, by name. */
  readonly sys: Syscalls
  /** The kernel's uapi constants and errno values, by name. */
  readonly constants: Constants
  /** The kernel's syscall table: name, number and arguments of each syscall (k.syscall takes the numbers). */
  readonly syscalls: readonly SyscallInfo[]
  readonly version: string
  /** The image this kernel booted: its generated data (syscall table, errno names and texts, layouts). */
  readonly image: KernelImage
  readonly #runtime: Runtime<KernelExport>
  readonly #data: KernelData
  readonly #idle: Worker[] = []
  /** Mounts of k.mount, in mount order: halt unmounts the writable ones, newest first. */
  readonly #mounts: { target: string, readOnly: boolean }[] = []
  #fs: KernelFs | null = null
  readonly #disks: KernelDisk[]
  readonly #nics: KernelNic[]
  readonly #diskTimeoutMs: number
  /** Devices are plugged in one at a time: the kernel names them in the order it probes them. */
  #plugging: Promise<unknown> = Promise.resolve()
  /** The network: NICs, interfaces, addresses, routes, TCP as Node streams. */
  readonly net: KernelNet
  /** Whether this kernel was loaded from a boot snapshot instead of booting (KernelOptions.snapshot). */
  readonly restored: boolean
  #state: 'running' | 'halting' | 'halted' = 'running'

  /** Use startKernel(). */
  constructor(runtime: Runtime<KernelExport>, image: KernelImage, setup: KernelSetup = {}) {
    this.#runtime = runtime
    this.restored = setup.restored ?? false
    this.#disks = setup.disks ?? []
    this.#nics = setup.nics ?? []
    this.#diskTimeoutMs = setup.diskTimeoutMs ?? DEFAULT_IO_TIMEOUT_MS
    this.#data = image.data
    this.image = image
    this.constants = image.constants
    this.syscalls = image.data.syscalls
    this.version = image.data.kernelVersion
    this.sys = this.#bind(() => this.#takeWorker(), (worker) => this.#giveBack(worker))
    this.net = new KernelNet({
      sys: this.sys, constants: this.constants, errno: image.data.errno, syscalls: image.data.syscalls,
      memory: runtime.userMemory, syscall: (nr, ...args) => this.syscall(nr, ...args),
    }, this.#nics)
  }

  /** Disks, in order vda, vdb, …: startKernel's, then those of addDisk. */
  get disks(): readonly KernelDisk[] {
    return this.#disks
  }

  /**
   * Plug a disk into the running kernel: its backend is opened, and it becomes the
   * next of k.disks (vda, vdb, … in order), its device nodes in /dev (devtmpfs,
   * mounted there with the first disk). Resolves once the kernel has probed it
   * and read its partition table. halt() closes it with the others.
   */
  addDisk(backend: BlockBackend): Promise<KernelDisk> {
    return this.#plugInOrder(async () => {
      if (this.#disks.length >= MAX_DISKS) throw new RangeError(`at most ${MAX_DISKS} disks`)
      if (this.#disks.some((d) => d.backend === backend)) throw new TypeError('this backend is a disk of this kernel already')
      const disk = await plugDisk((name, create) => this.#hotplug(name, create), diskName(this.#disks.length), backend,
        this.#diskTimeoutMs)
      this.#disks.push(disk)
      await mountDev(this)
      return disk
    })
  }

  /** Plug a NIC into the running kernel: the next of k.net.nics, down until k.net configures it. */
  addNic(backend: NetBackend): Promise<KernelNic> {
    return this.#plugInOrder(async () => {
      if (this.#nics.some((n) => n.backend === backend)) throw new TypeError('this backend is a NIC of this kernel already')
      const nic = await plugNic((name, create) => this.#hotplug(name, create), `net${this.#nics.length}`, backend)
      this.#nics.push(nic)
      return nic
    })
  }

  #plugInOrder<T>(plug: () => Promise<T>): Promise<T> {
    this.#checkRunning()
    const plugged = this.#plugging.then(plug)
    this.#plugging = plugged.catch(() => undefined)
    return plugged
  }

  /**
   * Plug a device into the running kernel: the runtime places it, and the arch's
   * parameter uklkl.virtio_mmio_device (virtio_mmio.device= is read at boot only)
   * registers it; its driver has probed it when the write returns.
   */
  async #hotplug(name: string, create: (host: DeviceHost) => DeviceRegisters): Promise<void> {
    const device = await this.#runtime.plugDevice(name, MMIO_WINDOW, create)
    if (device === null) throw new UklklError(`device ${name} went on the boot list of a running kernel`)
    const { AT_FDCWD, AT_REMOVEDIR, O_WRONLY } = this.constants
    const sys = await this.mountFs('sysfs', { target: '/.uklkl-sys' })
    try {
      const fd = await this.sys.openat(AT_FDCWD, `${sys}/module/uklkl/parameters/virtio_mmio_device`, O_WRONLY, 0)
      try {
        const text = new TextEncoder().encode(device)
        await this.sys.write(fd, text, text.length)
      } finally {
        await this.sys.close(fd)
      }
    } finally {
      await this.sys.umount2(sys, 0)
      await this.sys.unlinkat(AT_FDCWD, sys, AT_REMOVEDIR)
    }
  }

  /** The shape of node:fs/promises over the kernel's VFS (paths from the kernel's root). */
  get fs(): KernelFs {
    this.#fs ??= kernelFs(this)
    return this.#fs
  }

  /** The host's view: live threads, memory, and the deepest asyncify unwind per thread name. */
  stats(): KernelStats {
    return this.#runtime.stats()
  }

  /** Everything the kernel printed (the last 256 KiB). */
  console(): string {
    return this.#runtime.console.text()
  }

  /**
   * The raw form: syscall nr (see k.syscalls) with one 4-byte slot per argument
   * (a 64-bit value takes two, low word first); a Uint8Array is copied in, passed
   * as its address and copied back out. Resolves with the kernel's result,
   * -errno on failure.
   */
  syscall(nr: number, ...args: RawSyscallArg[]): Promise<number> {
    const info: SyscallInfo = {
      nr, name: `syscall ${nr}`, entry: '',
      // An unsigned long takes a number or a buffer's address (the ioctl rule of syscalls.ts).
      args: args.map((_, i) => ({ name: `arg${i}`, type: 'unsigned long', size: 4, pointer: false, const: false })),
    }
    return bindSyscall(info, this.#target(() => this.#takeWorker(), (w) => this.#giveBack(w)), null)(...args)
  }

  /** The fields of the struct at offset of bytes (8-byte integers as bigints, arrays as Uint8Array views). */
  decode<S extends StructName>(struct: S, bytes: Uint8Array, offset = 0): Structs[S] {
    return STRUCT_DECODERS[struct](fieldReader(struct, this.#layout(struct), bytes, offset))
  }

  /** A struct with the given fields set: a new zeroed one, or into (changed in place). */
  encode<S extends StructName>(struct: S, values?: StructInit<S>, into?: Uint8Array): Uint8Array {
    return encodeStruct(this.#layout(struct), values ?? {}, into)
  }

  /** A new zeroed buffer the size of struct. */
  buffer(struct: StructName): Uint8Array {
    return new Uint8Array(this.#layout(struct).size)
  }

  /**
   * length zeroed bytes of the kernel's user arena, which k.sys passes by address:
   * the kernel reads and writes them in place, with no copy in or out (see
   * KernelBuffer). Free it (or `using` it) when done; the arena is
   * KernelOptions.userMemoryMiB, shared with every call's arguments.
   */
  alloc(length: number): KernelBuffer {
    this.#checkRunning()
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`alloc needs a length in bytes, not ${length}`)
    const memory = this.#runtime.userMemory
    const address = memory.alloc(length, 8)
    if (address === 0) throw new RangeError(`no room for ${length} bytes in the user arena`)
    const buffer = new KernelBuffer(memory, address, length)
    buffer.bytes.fill(0)
    return buffer
  }

  /**
   * A host thread of its own, e.g. to block in a read while others write. With
   * newThreadGroup its task leaves pid 1's thread group: it becomes a process of
   * its own whose parent is pid 1.
   */
  async thread(options: { newThreadGroup?: boolean } = {}): Promise<KernelThread> {
    this.#checkRunning()
    const worker = this.#newWorker()
    if (options.newThreadGroup === true) {
      const result = Number(await worker.call('kernel_new_thread_group'))
      if (result < 0) throw new UklklError(`kernel_new_thread_group failed with ${result}`)
    }
    let exited = false
    const exit = async (): Promise<void> => {
      if (exited) return
      exited = true
      if (this.#state === 'running') await worker.retire()
    }
    return {
      sys: this.#bind(() => {
        if (exited) throw new KernelStoppedError('this kernel thread has exited')
        return worker
      }, () => undefined),
      exit,
      [Symbol.asyncDispose]: exit,
    }
  }

  /**
   * LKL's host-level boot cases (mutex, semaphore, join): C in the kernel
   * image exercising the host ops it is linked against. 0 when the case passed.
   */
  async hostSelftest(name: HostSelftest): Promise<number> {
    this.#checkRunning()
    return Number(await this.#runtime.call(`host_selftest_${name}`, [], { name: `selftest ${name}` }))
  }

  /**
   * Mount a filesystem of type fstype (LKL's lkl_mount_fs) at target, by default
   * /fstype, creating the directory if needed; resolves with the mount point.
   */
  async mountFs(fstype: string, options: MountOptions = {}): Promise<string> {
    const target = options.target ?? `/${fstype}`
    await this.sys.mkdirat(this.constants.AT_FDCWD, target, 0o755).catch((error: unknown) => {
      if (!(error instanceof LinuxError && error.code === 'EEXIST')) throw error
    })
    const data = options.data === undefined ? null : new TextEncoder().encode(`${options.data}\0`)
    await this.sys.mount(fstype, target, fstype, options.flags ?? 0, data)
    return target
  }

  /**
   * Mount a disk of k.disks, or one of its partitions; resolves with the mount
   * point (/mnt/vda, /mnt/vda1 by default). The filesystem type is read from the
   * superblock unless fstype is given. halt() unmounts it if umount() did not (a
   * read-only mount has nothing to write: the halt drops it).
   */
  async mount(disk: KernelDisk, options: DiskMountOptions = {}): Promise<string> {
    if (!this.disks.includes(disk)) throw new TypeError('mount takes a disk of this kernel (k.disks)')
    const mounted = await mountDisk(this, disk, options)
    this.#mounts.push(mounted)
    return mounted.target
  }

  /** Sync and unmount the filesystem at target; its data is on the disk's backend when this resolves. */
  async umount(target: string): Promise<void> {
    await unmount(this, target)
    const index = this.#mounts.map((m) => m.target).lastIndexOf(target)
    if (index >= 0) this.#mounts.splice(index, 1)
    await Promise.all(this.disks.map((d) => d.backend.flush()))
  }

  /**
   * Run a wasm32-wasi (preview 1) program as a process of this kernel: its
   * files are the kernel's (options.preopens), stdio are kernel pipes pumped to
   * the options' streams. Resolves with its exit code (src/wasi/run.ts).
   */
  runWasi(program: WasiProgram, options: RunWasiOptions = {}): Promise<number> {
    this.#checkRunning()
    return runWasi(this, program, options)
  }

  /**
   * Bring network interface ifindex up (LKL's lkl_if_up); resolves with its name.
   * Uses an AF_INET datagram socket for the SIOCGIFNAME/SIOCGIFFLAGS/SIOCSIFFLAGS ioctls.
   */
  async ifUp(ifindex: number): Promise<string> {
    const { AF_INET, SOCK_DGRAM, SIOCGIFNAME, SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP } = this.constants
    const sock = await this.sys.socket(AF_INET, SOCK_DGRAM, 0)
    try {
      const ifr = this.encode('ifreq', { ifr_ifindex: ifindex })
      await this.sys.ioctl(sock, SIOCGIFNAME, ifr)
      await this.sys.ioctl(sock, SIOCGIFFLAGS, ifr)
      const flags = this.decode('ifreq', ifr).ifr_flags
      this.encode('ifreq', { ifr_flags: flags | IFF_UP }, ifr)
      await this.sys.ioctl(sock, SIOCSIFFLAGS, ifr)
      const name = this.decode('ifreq', ifr).ifr_name
      return new TextDecoder().decode(name.subarray(0, name.indexOf(0)))
    } finally {
      await this.sys.close(sock)
    }
  }

  /**
   * Shut the kernel down (LKL's lkl_sys_halt); resolves with kernel_halt's result
   * (0). Calls still in flight (a read blocked on a pipe) and every later call
   * reject with KernelStoppedError. A kernel that has not shut down within
   * timeoutMs (wedged: its CPU never freed) is stopped by force, and halt rejects
   * with a KernelStoppedError that says so; the kernel is stopped either way.
   */
  async halt(options: HaltOptions = {}): Promise<number> {
    if (this.#state === 'running' && this.#runtime.failure !== null) {
      // The kernel failed on its own: what is left to do is let go of the disks.
      const failure = this.#runtime.failure
      await this.#stop(new KernelStoppedError(`the kernel has stopped: ${failure.message}`, { cause: failure }))
    }
    this.#checkRunning()
    const timeoutMs = options.timeoutMs ?? HALT_TIMEOUT_MS
    // Filesystems first, so that their journals are clean on the disks. One still
    // busy (EBUSY: a file open) is synced instead, and the halt goes on. A
    // read-only mount has nothing to write: unmounting it would only evict its
    // caches (10-15 ms after reading 40 MiB), which the halt drops anyway.
    for (const { target } of [...this.#mounts].reverse().filter((m) => !m.readOnly)) {
      await this.umount(target).catch(() => this.sys.sync())
    }
    this.#state = 'halting'
    // Callers blocked in the kernel stay blocked through the halt: close() ends them.
    this.#runtime.beginStop()
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs)
    })
    let outcome: unknown
    try {
      outcome = await Promise.race([this.#runtime.call('kernel_halt', [], { name: 'halt' }), deadline])
    } catch (error) {
      const failed = new KernelStoppedError('the kernel failed while halting', { cause: error })
      await this.#stop(failed)
      throw failed
    } finally {
      clearTimeout(timer)
    }
    if (outcome === 'timeout') {
      const forced = new KernelStoppedError(`the kernel did not halt within ${timeoutMs} ms; it was stopped by force`)
      await this.#stop(forced)
      throw forced
    }
    await this.#stop(new KernelStoppedError('the kernel halted while this call was in flight'))
    // A clean halt: the kernel's memory may serve the next kernel loaded from a snapshot.
    this.#runtime.release()
    return Number(outcome)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'running') await this.halt()
  }

  #bind(take: () => Worker, giveBack: (worker: Worker) => void): Syscalls {
    const bound = bindSyscalls(this.#data.syscalls, this.#data.errno, this.#target(take, giveBack))
    return syscallTable((name) => {
      const fn = bound[name]
      // imageFrom() checked that the image's table has every typed name.
      if (fn === undefined) throw new UklklError(`the kernel image has no syscall ${name}`)
      return fn
    })
  }

  #target(take: () => Worker, giveBack: (worker: Worker) => void): SyscallTarget {
    return {
      memory: this.#runtime.userMemory,
      check: () => this.#checkRunning(),
      // Made from plain JS while the CPU is free, the call runs at once (the
      // scheduler's fast path) and comes back settled, with no promise made.
      invoke: <T>(nr: number, args: number, finish: (result: number) => T, abandon: () => void): T | Promise<T> => {
        let worker: Worker
        try {
          worker = take()
        } catch (error) {
          abandon()
          throw error
        }
        const outcome = worker.run('kernel_syscall', [nr, args])
        if (outcome.settled) {
          // The worker serves the caller's next call, even one made before this one's answer is read.
          giveBack(worker)
          return finish(Number(outcome.value))
        }
        return outcome.promise.then((result) => {
          giveBack(worker)
          return finish(Number(result))
        }, (error: unknown) => {
          giveBack(worker)
          abandon()
          throw error
        })
      },
    }
  }

  #takeWorker(): Worker {
    this.#checkRunning()
    return this.#idle.pop() ?? this.#newWorker()
  }

  #giveBack(worker: Worker): void {
    if (this.#state !== 'running') return
    if (this.#idle.length < IDLE_WORKERS) this.#idle.push(worker)
    else void worker.retire().catch(() => undefined)
  }

  #newWorker(): Worker {
    const worker = this.#runtime.createWorker({ name: 'host' })
    if (worker === null) throw new UklklError('no memory for the stack of a new kernel thread')
    return worker
  }

  /** End the runtime: the kernel's threads are parked for good after a halt, or wedged. */
  #stop(reason: KernelStoppedError): Promise<void> {
    this.#state = 'halted'
    this.#idle.length = 0
    this.#runtime.close(reason)
    return closeBackends([...this.disks.map((d) => d.backend), ...this.net.nics.map((n) => n.backend)])
  }

  #checkRunning(): void {
    if (this.#state !== 'running') throw new KernelStoppedError(`the kernel is ${this.#state}`)
    const failure = this.#runtime.failure
    if (failure !== null) throw new KernelStoppedError(`the kernel has stopped: ${failure.message}`, { cause: failure })
  }

  #layout(struct: string): StructLayout {
    const layout = this.#data.structs[struct]
    if (layout === undefined) {
      throw new TypeError(`no struct ${struct}; known: ${Object.keys(this.#data.structs).join(', ')}`)
    }
    return layout
  }
}

/** Close every backend, even when some fail; the first failure is thrown after. */
async function closeBackends(backends: readonly { close(): Promise<void> }[]): Promise<void> {
  const results = await Promise.allSettled(backends.map((b) => b.close()))
  const failed = results.find((r) => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
}

/**
 * How a device gets into the machine: onto the list the kernel reads at boot
 * (before boot), or into the running kernel (Kernel's #hotplug).
 */
type PlugDevice = (name: string, create: (host: DeviceHost) => DeviceRegisters) => Promise<void>

/** Open backend and plug it in as virtio-blk disk name; the backend is closed again when that fails. */
async function plugDisk(plug: PlugDevice, name: string, backend: BlockBackend, timeoutMs: number): Promise<KernelDisk> {
  await backend.open()
  try {
    const created: VirtioBlk[] = []
    await plug(name, (host) => {
      const blk = new VirtioBlk(host, name, backend, timeoutMs)
      created.push(blk)
      return new VirtioMmio(host, name, blk)
    })
    const [blk] = created
    if (blk === undefined) throw new UklklError(`disk ${name} was not created`)
    return new KernelDisk(name, backend, blk.stats)
  } catch (error) {
    await backend.close().catch(() => undefined)
    throw error
  }
}

/** Open backend and plug it in as virtio-net device name; the backend is closed again when that fails. */
async function plugNic(plug: PlugDevice, name: string, backend: NetBackend): Promise<KernelNic> {
  await backend.open()
  try {
    const created: VirtioNet[] = []
    await plug(name, (host) => {
      // The model asks the transport (made after it) for the features the driver accepted.
      let transport: VirtioMmio | null = null
      const model = new VirtioNet(host, backend, () => transport?.negotiated ?? 0n, () => transport?.configChanged())
      created.push(model)
      transport = new VirtioMmio(host, name, model)
      return transport
    })
    const [model] = created
    if (model === undefined) throw new UklklError(`NIC ${name} was not created`)
    return new KernelNic(backend, model.stats)
  } catch (error) {
    await backend.close().catch(() => undefined)
    throw error
  }
}

/* virtio-blk names disks vda … vdz, then vdaa: 26 keeps names and order simple. */
const MAX_DISKS = 26

/** The name the kernel gives the disk probed index-th (virtio-blk numbers them as it probes). */
const diskName = (index: number): string => `vd${String.fromCharCode(0x61 + index)}`

/** Kernels whose devtmpfs is mounted on /dev. */
const devMounted = new WeakSet<Kernel>()

/** The disks' device nodes (/dev/vda, /dev/vda1, …), made by the kernel as it finds them. */
async function mountDev(k: Kernel): Promise<void> {
  if (devMounted.has(k)) return
  devMounted.add(k)
  await k.mountFs('devtmpfs', { target: '/dev' })
}

/**
 * What makes two boots alike, the key a boot snapshot is kept under
 * (boot-snapshots.ts); null for a kernel that always boots (KernelOptions.snapshot
 * says which).
 */
function snapshotKey(options: KernelOptions, memoryMiB: number, userMemoryMiB: number, softLockupMs: number): string | null {
  // A seed is for reproducible runs, mostly one kernel per seed: a save of each would be of no use.
  if (options.snapshot === false || options.seed !== undefined || options.hostOps !== undefined
    || options.trace !== undefined) return null
  // The watchdog takes a block of the heap before boot: with and without it, the heaps differ.
  return JSON.stringify([memoryMiB, userMemoryMiB, softLockupMs > 0, options.cmdline ?? '', options.scheduler ?? {}])
}

/** Save a kernel that has just booted, once it is at rest (a few turns of the event loop at most); null if it is not. */
async function saveBoot(runtime: Runtime<KernelExport>): Promise<SavedRuntime | null> {
  for (let turn = 0; turn < 4; turn++) {
    try {
      return runtime.snapshot()
    } catch (error) {
      if (!(error instanceof UklklError)) throw error
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  return null
}

/** uapi linux/random.h: _IO('R', 0x07). */
const RNDRESEEDCRNG = 0x5207
/** /dev/urandom: major 1, minor 9, as the kernel encodes device numbers. */
const URANDOM_DEVICE = 0x109
const RESEED_BYTES = 32

/**
 * A kernel loaded from a boot snapshot has the saved kernel's random state: mix
 * fresh bytes from the host into its pool and make its crng reseed from it now, so
 * that no two such kernels share their random bytes. The bytes are not credited:
 * a kernel booted without credited entropy (random.trust_cpu=0) stays so,
 * and its crng, not ready yet, seeds itself from that pool once it is.
 */
async function reseed(k: Kernel): Promise<void> {
  const { AT_FDCWD, O_WRONLY, S_IFCHR } = k.constants
  // A device node of its own: the kernel's /dev may be empty, or the user's.
  const node = '/.uklkl-urandom'
  await k.sys.mknodat(AT_FDCWD, node, S_IFCHR | 0o200, URANDOM_DEVICE)
  const fd = await k.sys.openat(AT_FDCWD, node, O_WRONLY, 0)
  try {
    await k.sys.unlinkat(AT_FDCWD, node, 0)
    const fresh = crypto.getRandomValues(new Uint8Array(RESEED_BYTES))
    await k.sys.write(fd, fresh, fresh.length)
    await k.sys.ioctl(fd, RNDRESEEDCRNG, 0).catch((error: unknown) => {
      if (!(error instanceof LinuxError && error.code === 'ENODATA')) throw error
    })
  } finally {
    await k.sys.close(fd)
  }
}

/** Boot a kernel; resolves once it serves syscalls. */
export async function startKernel(options: KernelOptions = {}): Promise<Kernel> {
  const memoryMiB = options.memoryMiB ?? 64
  if (!Number.isInteger(memoryMiB) || memoryMiB < 1) {
    throw new RangeError(`memoryMiB must be a positive integer, not ${memoryMiB}`)
  }
  const userMemoryMiB = options.userMemoryMiB ?? 16
  if (!Number.isInteger(userMemoryMiB) || userMemoryMiB < 1) {
    throw new RangeError(`userMemoryMiB must be a positive integer, not ${userMemoryMiB}`)
  }
  const softLockupMs = options.softLockupMs ?? 20_000
  if (!(softLockupMs >= 0)) throw new RangeError(`softLockupMs must be 0 or more, not ${softLockupMs}`)
  const diskTimeoutMs = options.diskTimeoutMs ?? DEFAULT_IO_TIMEOUT_MS
  if (!(diskTimeoutMs >= 0)) throw new RangeError(`diskTimeoutMs must be 0 or more, not ${diskTimeoutMs}`)
  const givenDisks = options.disks ?? []
  const givenNics = options.nics ?? []
  if (givenDisks.length > MAX_DISKS) throw new RangeError(`at most ${MAX_DISKS} disks, not ${givenDisks.length}`)
  for (const [list, given] of [['disks', givenDisks], ['nics', givenNics]] as const) {
    for (const [index, backend] of given.entries()) {
      const first = (given as readonly unknown[]).indexOf(backend)
      if (first !== index) throw new TypeError(`${list}[${index}] is ${list}[${first}] again`)
    }
  }
  const image = options.image
    ?? await loadKernelImage(DEFAULT_IMAGE_DIR, options.fibers === undefined ? {} : { fibers: options.fibers })
  const compiled = imageModules.get(image)
  if (compiled === undefined) throw new TypeError('options.image must be a kernel image from loadKernelImage()')
  if (options.fibers !== undefined && options.fibers !== image.fibers) {
    throw new TypeError(`options.fibers is '${options.fibers}', but options.image was loaded for '${image.fibers}'`)
  }
  // A JSPI kernel's blocked threads are V8 stacks, which no save can keep: it always boots.
  const key = image.fibers === 'jspi' ? null : snapshotKey(options, memoryMiB, userMemoryMiB, softLockupMs)
  const onDisk = options.snapshot !== 'process'
  let saved = key === null ? undefined : await findBootSnapshot(compiled.digest, key, onDisk)
  // A kernel restored from a save may get the memory of one that halted (memory-pool.ts).
  const runtimeFor = (restore: SavedRuntime | undefined): Promise<Runtime<KernelExport>> => instantiate(compiled.module, {
    restore,
    ...(compiled.memoryLimits === null ? {} : { memoryLimits: compiled.memoryLimits }),
    functionNames: compiled.names,
    ...(options.onConsole === undefined ? {} : { onConsole: options.onConsole }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    seed: options.seed,
    hostOps: options.hostOps,
    userMemoryBytes: userMemoryMiB * 1024 * 1024,
    softLockupMs,
  })
  let runtime: Runtime<KernelExport>
  try {
    runtime = await runtimeFor(saved)
  } catch (error) {
    // A save that does not fit this runtime (a cache file of another version) is dropped, and the kernel boots.
    if (key === null || saved === undefined || !(error instanceof UklklError)) throw error
    await forgetBootSnapshot(compiled.digest, key)
    saved = undefined
    runtime = await runtimeFor(saved)
  }
  // A kernel that is saved or loaded gets its devices once it runs (a save holds none); any other, before boot.
  const plugLater = key !== null
  const disks: KernelDisk[] = []
  const nics: KernelNic[] = []
  const backends = (): { close(): Promise<void> }[] => [...disks.map((d) => d.backend), ...nics.map((n) => n.backend)]
  if (!plugLater) {
    const beforeBoot: PlugDevice = async (name, create) => {
      await runtime.plugDevice(name, MMIO_WINDOW, create)
    }
    try {
      for (const backend of givenDisks) disks.push(await plugDisk(beforeBoot, diskName(disks.length), backend, diskTimeoutMs))
      for (const backend of givenNics) nics.push(await plugNic(beforeBoot, `net${nics.length}`, backend))
    } catch (error) {
      await closeBackends(backends()).catch(() => undefined)
      throw error
    }
  }
  if (saved === undefined) {
    const cmdline = `mem=${memoryMiB}M ${options.cmdline ?? ''}`.trim()
    const bytes = new TextEncoder().encode(`${cmdline}\0`)
    const arg = runtime.userMemory.alloc(bytes.length)
    if (arg === 0) throw new UklklError('no memory for the kernel command line')
    runtime.userMemory.write(arg, bytes)
    let result: number
    try {
      result = Number(await runtime.call('kernel_start', [arg], { name: 'boot' }))
    } catch (error) {
      await closeBackends(backends()).catch(() => undefined)
      throw error
    }
    runtime.userMemory.free(arg)
    if (result !== 0) {
      runtime.fail(new KernelStoppedError('the kernel did not boot'))
      await closeBackends(backends()).catch(() => undefined)
      throw new UklklError(`kernel_start failed with ${result}; console tail:\n${runtime.console.tail()}`)
    }
    if (key !== null) {
      const snapshot = await saveBoot(runtime)
      if (snapshot !== null) await keepBootSnapshot(compiled.digest, key, snapshot, onDisk)
    }
  }
  const kernel = new Kernel(runtime, image, { disks, nics, diskTimeoutMs, restored: saved !== undefined })
  try {
    if (saved !== undefined) await reseed(kernel)
    // The kernel's wall clock starts at 1970: the host's time, so that files get today's times.
    const now = Date.now()
    const timespec = new DataView(new ArrayBuffer(16))
    timespec.setBigInt64(0, BigInt(Math.floor(now / 1000)), true)
    timespec.setBigInt64(8, BigInt((now % 1000) * 1_000_000), true)
    await kernel.sys.clock_settime64(kernel.constants.CLOCK_REALTIME, new Uint8Array(timespec.buffer))
    if (plugLater) {
      for (const backend of givenDisks) await kernel.addDisk(backend)
      for (const backend of givenNics) await kernel.addNic(backend)
    } else if (disks.length > 0) {
      await mountDev(kernel)
    }
  } catch (error) {
    // The kernel closes the backends it has; a backend not plugged in yet was never opened.
    await kernel.halt().catch(() => undefined)
    throw error
  }
  return kernel
}
