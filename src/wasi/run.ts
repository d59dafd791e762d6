// SPDX-License-Identifier: MIT
/**
 * run.ts - k.runWasi(): run an unmodified wasm32-wasi (preview 1) program as a
 * process of the kernel, and resolve with its exit code.
 *
 * The program gets a kernel task of its own (k.thread({ newThreadGroup })) that
 * unshares its fd table and filesystem context from pid 1, so its fds are its
 * own: 0, 1 and 2 are kernel pipes, 3… the preopened kernel directories in the
 * order given. The other ends of the pipes stay in pid 1's table, where this
 * file pumps them: stdin from a byte string or an async iterable, stdout and
 * stderr to Node Writables or callbacks. The program's code runs in a worker
 * thread (worker.ts) and calls the kernel synchronously over a SharedArrayBuffer
 * (channel.ts); process.ts serves each call with the task's syscalls.
 *
 * The promise resolves once the program has exited and its output has been
 * delivered (the pipes reached end of file). A module that is not a WASI
 * command rejects with WasiModuleError before anything runs; a trap rejects
 * with WasiTrapError after the program's process is gone. The kernel goes on
 * in both cases.
 *
 * Limits: preview 1 commands only (no reactors, no threads); output is not
 * interleaved across stdout and stderr as a terminal would show it (two pipes).
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Writable } from 'node:stream'
import { Worker } from 'node:worker_threads'
import { LinuxError, UklklError, WasiModuleError, WasiTrapError } from '../errors.js'
import type { Constants, Syscalls } from '../generated/kernel-api.js'
import type { Kernel, KernelThread } from '../kernel.js'
import { WASI_FUNCTIONS, WASI_MODULE } from './abi.js'
import { CHANNEL_BYTES, ChannelServer, DATA_SIZE } from './channel.js'
import { WasiProcess } from './process.js'
import type { WorkerInput, WorkerOutcome } from './worker.js'

/**
 * A program: a compiled WebAssembly.Module, its bytes, or the host path of a
 * .wasm file. The module is typed as object so that the package's types need no
 * DOM lib (Node's types have no WebAssembly); anything else is a TypeError.
 */
export type WasiProgram = Uint8Array<ArrayBuffer> | string | object
/** Where a program's stdout or stderr goes: a Node stream (backpressure respected) or a callback per chunk. */
export type WasiOutput = Writable | ((chunk: Uint8Array) => void)
/** What a program reads on stdin: all of it at once, or a stream of chunks; end of file after it. */
export type WasiInput = Uint8Array | string | AsyncIterable<Uint8Array | string>

export interface RunWasiOptions {
  /** The program's argv, argv[0] included (as node:wasi takes it); [the file's name] by default. */
  args?: readonly string[]
  /** The program's environment; empty by default. */
  env?: Readonly<Record<string, string>>
  /** Directories the program may use: its name for each → a directory of the kernel ({ '/data': '/mnt/vda' }). */
  preopens?: Readonly<Record<string, string>>
  /** stdin; empty (end of file at once) by default. */
  stdin?: WasiInput
  /** stdout; discarded by default. */
  stdout?: WasiOutput
  /** stderr; discarded by default. */
  stderr?: WasiOutput
}

/** Run program as a process of k; resolves with its exit code. */
export async function runWasi(k: Kernel, program: WasiProgram, options: RunWasiOptions = {}): Promise<number> {
  const name = typeof program === 'string' ? path.basename(program) : 'program'
  const module = await compile(program, name)
  checkModule(module, name)
  const c = k.constants
  const pipes = [await pipe(k), await pipe(k), await pipe(k)] as const
  // The program reads stdin's read end and writes the write ends of stdout and stderr.
  const programEnds = [pipes[0][0], pipes[1][1], pipes[2][1]]
  const [stdinEnd, stdoutEnd, stderrEnd] = [pipes[0][1], pipes[1][0], pipes[2][0]]
  let thread: KernelThread | null = null
  let preopens: Map<number, string>
  try {
    thread = await k.thread({ newThreadGroup: true })
    preopens = await setUpTask(thread.sys, c, programEnds, options.preopens ?? {})
  } catch (error) {
    await Promise.allSettled([...programEnds, stdinEnd, stdoutEnd, stderrEnd].map((fd) => k.sys.close(fd)))
    await thread?.exit()
    throw error
  }
  // The task has its copies; pid 1 keeps only the host's ends, so end of file comes when the task exits.
  await Promise.all(programEnds.map((fd) => k.sys.close(fd)))
  const pumps = Promise.allSettled([feed(k, stdinEnd, options.stdin), drain(k, stdoutEnd, options.stdout),
    drain(k, stderrEnd, options.stderr)])

  const proc = new WasiProcess(thread.sys, c, preopens)
  const channel = new SharedArrayBuffer(CHANNEL_BYTES)
  const server = new ChannelServer(channel, (call) => proc.handle(call))
  const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`)
  const worker = spawnWorker({ module, channel, args: options.args ?? [name], env })
  let outcome: WorkerOutcome
  try {
    outcome = await Promise.race([outcomeOf(worker), server.done.then((): never => {
      throw new UklklError(`${name}: the WASI bridge stopped serving`)
    })])
  } finally {
    server.stop()
    await worker.terminate()
    // The task's exit closes its fds: the pumps see end of file and finish.
    await thread.exit()
  }
  const failed = (await pumps).find((p) => p.status === 'rejected')
  if (outcome.kind === 'trap') throw new WasiTrapError(name, outcome.message)
  if (outcome.kind === 'error') throw new UklklError(`${name}: the WASI bridge failed: ${outcome.message}\n${outcome.stack}`)
  if (failed !== undefined) throw failed.reason
  return outcome.code
}

async function compile(program: WasiProgram, name: string): Promise<WebAssembly.Module> {
  if (program instanceof WebAssembly.Module) return program
  if (typeof program !== 'string' && !(program instanceof Uint8Array)) {
    throw new TypeError('runWasi takes a WebAssembly.Module, the bytes of one, or the path of a .wasm file')
  }
  const bytes = typeof program === 'string' ? await readFile(program) : program
  try {
    return await WebAssembly.compile(bytes)
  } catch (error) {
    throw new WasiModuleError(name, `not a WebAssembly module: ${error instanceof Error ? error.message : String(error)}`, [],
      { cause: error })
  }
}

/** A WASI command: it imports preview 1 functions only, and exports _start and its memory. */
function checkModule(module: WebAssembly.Module, name: string): void {
  const known = new Set<string>(WASI_FUNCTIONS)
  const unknown = WebAssembly.Module.imports(module)
    .filter((i) => i.module !== WASI_MODULE || i.kind !== 'function' || !known.has(i.name))
    .map((i) => `${i.module}.${i.name} (${i.kind})`)
  if (unknown.length > 0) {
    throw new WasiModuleError(name, `imports what WASI preview 1 does not have: ${unknown.join(', ')}`, unknown)
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]))
  if (exports.get('_start') !== 'function' || exports.get('memory') !== 'memory') {
    throw new WasiModuleError(name, 'not a WASI command: it must export _start and memory')
  }
}

async function pipe(k: Kernel): Promise<[number, number]> {
  const fds = new Uint8Array(8)
  await k.sys.pipe2(fds, 0)
  const view = new DataView(fds.buffer)
  return [view.getInt32(0, true), view.getInt32(4, true)]
}

/**
 * Give the program's task its own fd table holding only ends at 0, 1, 2 and
 * the preopens from 3 on; resolves with fd → the program's name for it.
 */
async function setUpTask(sys: Syscalls, c: Constants, ends: readonly number[],
  preopens: Readonly<Record<string, string>>): Promise<Map<number, string>> {
  await sys.unshare(c.CLONE_FILES | c.CLONE_FS)
  // Copies above 2 first: an end may itself be 0, 1 or 2, which dup3 below overwrites.
  const copies: number[] = []
  for (const fd of ends) copies.push(await sys.fcntl64(fd, c.F_DUPFD, 3))
  for (const [i, fd] of copies.entries()) await sys.dup3(fd, i, 0)
  // Whatever pid 1 had open when the table was copied is not the program's.
  await sys.close_range(3, 0xffff_ffff, 0)
  const fds = new Map<number, string>()
  for (const [guest, kernelPath] of Object.entries(preopens)) {
    const fd = await sys.openat(c.AT_FDCWD, kernelPath, c.O_RDONLY | c.O_DIRECTORY | c.O_LARGEFILE, 0).catch((error: unknown) => {
      throw new UklklError(`preopen ${guest}: the kernel directory ${kernelPath} cannot be opened` +
        `${error instanceof LinuxError ? ` (${error.code})` : ''}`, { cause: error })
    })
    fds.set(fd, guest)
  }
  return fds
}

/** Write input into the pipe at fd (pid 1's), then close it: the program sees end of file. */
async function feed(k: Kernel, fd: number, input: WasiInput | undefined): Promise<void> {
  if (input === undefined) {
    await k.sys.close(fd)
    return
  }
  // A thread of its own: a write the program never reads ends in EPIPE, and the
  // SIGPIPE that comes with it is then pending on a thread that goes away.
  const writer = await k.thread()
  try {
    const chunks = typeof input === 'string' || input instanceof Uint8Array ? [input] : input
    for await (const chunk of chunks) {
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk
      for (let at = 0; at < bytes.length;) {
        at += await writer.sys.write(fd, bytes.subarray(at, at + DATA_SIZE), Math.min(DATA_SIZE, bytes.length - at))
      }
    }
  } catch (error) {
    // The program ended without reading all of its input: not an error of the run.
    if (!(error instanceof LinuxError && error.code === 'EPIPE')) throw error
  } finally {
    await writer.sys.close(fd)
    await writer.exit()
  }
}

/** Read the pipe at fd (pid 1's) to end of file into output, then close it. */
async function drain(k: Kernel, fd: number, output: WasiOutput | undefined): Promise<void> {
  const buffer = new Uint8Array(DATA_SIZE)
  try {
    for (;;) {
      const n = await k.sys.read(fd, buffer, buffer.length)
      if (n === 0) break
      const chunk = buffer.slice(0, n)
      if (typeof output === 'function') output(chunk)
      else if (output !== undefined && !output.write(chunk)) {
        await new Promise<void>((resolve) => output.once('drain', resolve))
      }
    }
  } finally {
    await k.sys.close(fd)
  }
}

const here = import.meta.url

/**
 * The program's worker. Run from the sources (tests, tsx), the worker is
 * TypeScript as well: tsx's loader is registered in it first.
 */
function spawnWorker(input: WorkerInput): Worker {
  if (here.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api')
    const worker = new URL('./worker.ts', here).href
    const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); ` +
      `return import(${JSON.stringify(worker)}) })`
    return new Worker(boot, { eval: true, workerData: input })
  }
  return new Worker(new URL('./worker.js', here), { workerData: input })
}

/** The outcome the worker posts; a worker that dies without one is an error of the bridge. */
function outcomeOf(worker: Worker): Promise<WorkerOutcome> {
  return new Promise((resolve, reject) => {
    worker.once('message', (outcome: WorkerOutcome) => resolve(outcome))
    worker.once('error', (error) => reject(new UklklError(`the WASI worker failed: ${error.message}`, { cause: error })))
    worker.once('exit', (code) => reject(new UklklError(`the WASI worker exited (${code}) without reporting how the program ended`)))
  })
}
