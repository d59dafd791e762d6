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
 * Limits: the kernel image (build/lkl.wasm and build/kernel-data.json) must have
 * been built (npm run build:kernel); there is one CPU, so syscalls in flight take
 * turns inside the kernel.
 */
import { readFile } from 'node:fs/promises'
import { KernelStoppedError, LinuxError, UklklError } from './errors.js'
import { type HostRuntime, type Worker, instantiate } from './host-ops/index.js'
import type { KernelData, SyscallInfo } from './kernel-data.js'
import type { Heap } from './sched/heap.js'
import type { SchedulerOptions } from './sched/scheduler.js'
import { type FieldValue, decodeStruct, encodeStruct } from './structs.js'
import { type SyscallArgValue, type SyscallFn, bindSyscall, bindSyscalls } from './syscalls.js'

export interface KernelOptions {
  /** The kernel's RAM (mem=), MiB. */
  memoryMiB?: number
  /** Appended to the kernel command line. */
  cmdline?: string
  /** Console text as it arrives; it is also kept (k.console()). */
  onConsole?: (text: string) => void
  /** Log every host op (the tracing switch). */
  trace?: (line: string) => void
  /** A kernel image other than the package's own build. */
  image?: KernelImage
  scheduler?: Partial<SchedulerOptions>
}

export interface KernelImage {
  readonly module: WebAssembly.Module
  readonly data: KernelData
}

const DEFAULT_IMAGE_DIR = new URL('../build/', import.meta.url)
const images = new Map<string, Promise<KernelImage>>()

/** Load (once per process and folder) the kernel image built into dir. */
export function loadKernelImage(dir: URL = DEFAULT_IMAGE_DIR): Promise<KernelImage> {
  let image = images.get(dir.href)
  if (image === undefined) {
    image = (async () => {
      const [wasm, data] = await Promise.all([
        readFile(new URL('lkl.wasm', dir)),
        readFile(new URL('kernel-data.json', dir), 'utf8'),
      ]).catch((error: unknown) => {
        throw new UklklError(`no kernel image in ${dir.pathname}: run npm run build:kernel first`, { cause: error })
      })
      return { module: await WebAssembly.compile(wasm), data: JSON.parse(data) as KernelData }
    })()
    images.set(dir.href, image)
    image.catch(() => images.delete(dir.href))
  }
  return image
}

/** A host thread of the kernel's: its syscalls all come from the same task. */
export interface KernelThread extends AsyncDisposable {
  readonly sys: Readonly<Record<string, SyscallFn>>
  /** End the thread; the kernel retires its task. */
  exit(): Promise<void>
}

export type HostSelftest = 'mutex' | 'semaphore' | 'join'

export interface KernelStats {
  liveFibers: number
  heap: Heap['stats']
  bufferHighWater: Map<string, number>
}

/** Idle workers kept for k.sys between calls; more are retired. */
const IDLE_WORKERS = 16

export class Kernel implements AsyncDisposable {
  readonly sys: Readonly<Record<string, SyscallFn>>
  readonly constants: Readonly<Record<string, number>>
  readonly syscalls: readonly SyscallInfo[]
  readonly version: string
  readonly #runtime: HostRuntime
  readonly #data: KernelData
  readonly #idle: Worker[] = []
  #state: 'running' | 'halting' | 'halted' = 'running'

  /** Use startKernel(). */
  constructor(runtime: HostRuntime, data: KernelData) {
    this.#runtime = runtime
    this.#data = data
    this.constants = data.constants
    this.syscalls = data.syscalls
    this.version = data.kernelVersion
    this.sys = this.#bind(() => this.#takeWorker(), (worker) => this.#giveBack(worker))
  }

  /** The host's view: live threads, memory, and the deepest asyncify unwind per thread name. */
  stats(): KernelStats {
    const sched = this.#runtime.sched
    return { liveFibers: sched.liveFibers, heap: sched.heap.stats, bufferHighWater: new Map(sched.bufferHighWater) }
  }

  /** Everything the kernel printed (the last 256 KiB). */
  console(): string {
    return this.#runtime.console.text()
  }

  /** The raw form: args are longs, one per slot; returns the kernel's result (-errno on failure). */
  syscall(nr: number, ...args: (number | bigint)[]): Promise<number> {
    const info: SyscallInfo = {
      nr, name: `syscall ${nr}`, entry: '',
      args: args.map((_, i) => ({ name: `arg${i}`, type: 'long', size: 4, pointer: false, const: false })),
    }
    return bindSyscall(info, this.#target(() => this.#takeWorker(), (w) => this.#giveBack(w)), null)(...args)
  }

  decode(struct: string, bytes: Uint8Array, offset = 0): Record<string, FieldValue> {
    return decodeStruct(this.#layout(struct), bytes, offset)
  }

  /** A struct with the given fields set: a new zeroed one, or into (changed in place). */
  encode(struct: string, values: Record<string, FieldValue> = {}, into?: Uint8Array): Uint8Array {
    return encodeStruct(this.#layout(struct), values, into)
  }

  /** A new zeroed buffer the size of struct. */
  buffer(struct: string): Uint8Array {
    return new Uint8Array(this.#layout(struct).size)
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
      sys: this.#bind(async () => {
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
  async mountFs(fstype: string, options: { target?: string, flags?: number, data?: string } = {}): Promise<string> {
    const target = options.target ?? `/${fstype}`
    await this.sys.mkdirat!(this.constants.AT_FDCWD, target, 0o755).catch((error: unknown) => {
      if (!(error instanceof LinuxError && error.code === 'EEXIST')) throw error
    })
    await this.sys.mount!(fstype, target, fstype, options.flags ?? 0, options.data ?? null)
    return target
  }

  /**
   * Bring network interface ifindex up (LKL's lkl_if_up); resolves with its name.
   * Uses an AF_INET datagram socket for the SIOCGIFNAME/SIOCGIFFLAGS/SIOCSIFFLAGS ioctls.
   */
  async ifUp(ifindex: number): Promise<string> {
    const { AF_INET, SOCK_DGRAM, SIOCGIFNAME, SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP } = this.constants
    const sock = await this.sys.socket!(AF_INET, SOCK_DGRAM, 0)
    try {
      const ifr = this.encode('ifreq', { ifr_ifindex: ifindex })
      await this.sys.ioctl!(sock, SIOCGIFNAME, ifr)
      await this.sys.ioctl!(sock, SIOCGIFFLAGS, ifr)
      const flags = this.decode('ifreq', ifr).ifr_flags as number
      this.encode('ifreq', { ifr_flags: flags | IFF_UP! }, ifr)
      await this.sys.ioctl!(sock, SIOCSIFFLAGS, ifr)
      const name = this.decode('ifreq', ifr).ifr_name as Uint8Array
      return new TextDecoder().decode(name.subarray(0, name.indexOf(0)))
    } finally {
      await this.sys.close!(sock)
    }
  }

  /** Shut the kernel down; resolves with kernel_halt's result (0). Later calls reject. */
  async halt(): Promise<number> {
    this.#checkRunning()
    this.#state = 'halting'
    const result = Number(await this.#runtime.call('kernel_halt', [], { name: 'halt' }))
    this.#state = 'halted'
    this.#idle.length = 0
    // The kernel's threads are parked for good after halt: end them with the runtime.
    this.#runtime.sched.close(new KernelStoppedError('the kernel has halted'))
    return result
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'running') await this.halt()
  }

  #bind(take: () => Promise<Worker>, giveBack: (worker: Worker) => void): Record<string, SyscallFn> {
    return bindSyscalls(this.#data.syscalls, this.#data.errno, this.#target(take, giveBack))
  }

  #target(take: () => Promise<Worker>, giveBack: (worker: Worker) => void) {
    const runtime = this.#runtime
    return {
      heap: runtime.sched.heap,
      memory: runtime.instance.exports.memory as WebAssembly.Memory,
      invoke: async (nr: number, args: number): Promise<number> => {
        const worker = await take()
        try {
          return Number(await worker.call('kernel_syscall', [nr, args]))
        } finally {
          giveBack(worker)
        }
      },
    }
  }

  async #takeWorker(): Promise<Worker> {
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

  #checkRunning(): void {
    if (this.#state !== 'running') throw new KernelStoppedError(`the kernel is ${this.#state}`)
    const failure = this.#runtime.sched.failure
    if (failure !== null) throw new KernelStoppedError(`the kernel has stopped: ${failure.message}`, { cause: failure })
  }

  #layout(struct: string) {
    const layout = this.#data.structs[struct]
    if (layout === undefined) {
      throw new TypeError(`no struct ${struct}; known: ${Object.keys(this.#data.structs).join(', ')}`)
    }
    return layout
  }
}

/** Boot a kernel; resolves once it serves syscalls. */
export async function startKernel(options: KernelOptions = {}): Promise<Kernel> {
  const image = options.image ?? await loadKernelImage()
  const runtime = await instantiate(image.module, {
    ...(options.onConsole === undefined ? {} : { onConsole: options.onConsole }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
  })
  const cmdline = `mem=${options.memoryMiB ?? 64}M ${options.cmdline ?? ''}`.trim()
  const bytes = new TextEncoder().encode(`${cmdline}\0`)
  const arg = runtime.sched.heap.alloc(bytes.length)
  new Uint8Array((runtime.instance.exports.memory as WebAssembly.Memory).buffer).set(bytes, arg)
  const result = Number(await runtime.call('kernel_start', [arg], { name: 'boot' }))
  runtime.sched.heap.free(arg)
  if (result !== 0) {
    runtime.sched.fail(new KernelStoppedError('the kernel did not boot'))
    throw new UklklError(`kernel_start failed with ${result}; console tail:\n${runtime.console.tail()}`)
  }
  return new Kernel(runtime, image.data)
}

export type { SyscallArgValue, SyscallFn }
