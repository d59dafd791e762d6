// SPDX-License-Identifier: MIT
/**
 * run.ts - k.runWasi(): run an unmodified wasm32-wasi (preview 1) program as a
 * process of the kernel, and resolve with its exit code.
 *
 * The program gets a kernel task of its own (k.thread({ newThreadGroup })) with
 * an fd table of its own (fds.ts): 0, 1 and 2 are kernel pipes, or kernel fds
 * the caller hands in (one end of kernelPipe(): programs piped into each other
 * inside the kernel); 3… the preopened kernel directories in the order given,
 * then the sockets of the options (listening or connected: WASI preview 1 has
 * no way to make one). The host's ends of the stdio pipes stay in pid 1's
 * table, where this file pumps them: stdin from a byte string or an async
 * iterable, stdout and stderr to Node Writables or callbacks. The program's
 * code runs in a worker thread (worker.ts) and calls the kernel synchronously
 * over a SharedArrayBuffer (channel.ts); process.ts serves each call with the
 * task's syscalls. A module that is not a command (ruby.wasm is a reactor with
 * JS bindings of its own) runs through glue: a JS module the worker imports,
 * handed a node:wasi-shaped object over the same bridge.
 *
 * The promise resolves once the program has exited and its output has been
 * delivered (the pipes reached end of file). A module that is not a WASI
 * command rejects with WasiModuleError before anything runs; a trap rejects
 * with WasiTrapError after the program's process is gone. The kernel goes on
 * in both cases.
 *
 * Limits: preview 1 only (no threads); output is not interleaved across stdout
 * and stderr as a terminal would show it (two pipes).
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Writable } from 'node:stream'
import { Worker } from 'node:worker_threads'
import { LinuxError, UklklError, WasiModuleError, WasiTrapError } from '../errors.js'
import type { Kernel, KernelThread } from '../kernel.js'
import { WASI_FUNCTIONS, WASI_MODULE } from './abi.js'
import { CHANNEL_BYTES, ChannelServer, DATA_SIZE } from './channel.js'
import { type WasiFd, type WasiSocket, installFds, kernelPipe, openSocket } from './fds.js'
import { WasiProcess } from './process.js'
import type { WorkerInput, WorkerOutcome } from './worker.js'

export { type WasiFd, type WasiSocket, kernelPipe } from './fds.js'

/**
 * A program: a compiled WebAssembly.Module, its bytes, or the host path of a
 * .wasm file. The module is typed as object so that the package's types need no
 * DOM lib (Node's types have no WebAssembly); anything else is a TypeError.
 */
export type WasiProgram = Uint8Array<ArrayBuffer> | string | object
/**
 * Where a program's stdout or stderr goes: a Node stream (backpressure
 * respected), a callback per chunk, or a kernel fd of pid 1 (moved into the
 * program: the other end of a kernelPipe(), a file of the kernel's).
 */
export type WasiOutput = Writable | ((chunk: Uint8Array) => void) | WasiFd
/** What a program reads on stdin: all of it at once, a stream of chunks (end of file after either), or a kernel fd of pid 1 (moved). */
export type WasiInput = Uint8Array | string | AsyncIterable<Uint8Array | string> | WasiFd

export interface RunWasiOptions {
  /** The program's argv, argv[0] included (as node:wasi takes it); [the file's name] by default. */
  args?: readonly string[]
  /** The program's environment; empty by default. */
  env?: Readonly<Record<string, string>>
  /** Directories the program may use, at fds 3…: its name for each → a directory of the kernel ({ '/data': '/mnt/vda' }). */
  preopens?: Readonly<Record<string, string>>
  /**
   * Sockets the program starts with, at the fds after the preopens (fd 3 when
   * there are none, wasmtime's --tcplisten convention): listening ones it
   * accepts on, connected ones it sends and receives on.
   */
  sockets?: readonly WasiSocket[]
  /** stdin; empty (end of file at once) by default. */
  stdin?: WasiInput
  /** stdout; discarded by default. */
  stdout?: WasiOutput
  /** stderr; discarded by default. */
  stderr?: WasiOutput
  /**
   * A JavaScript module (a path or a file: URL) that the program's worker
   * imports to instantiate and drive a module that is not a plain command: a
   * reactor with JS glue of its own (ruby.wasm's RubyVM). Its default export is
   * called as glue(module, wasi, args), wasi shaped like node:wasi's WASI
   * (wasiImport, start(instance), initialize(instance)), and resolves with the
   * exit code (undefined is 0). The module may then import what it likes
   * besides WASI: the glue provides it.
   */
  glue?: string | URL
  /** Called with the program's pid once its process holds its fds (a listening socket listens), before its code runs. */
  onSpawn?: (pid: number) => void
}

/** Run program as a process of k; resolves with its exit code. */
export async function runWasi(k: Kernel, program: WasiProgram, options: RunWasiOptions = {}): Promise<number> {
  const name = typeof program === 'string' ? path.basename(program) : 'program'
  const glue = options.glue === undefined ? undefined : glueHref(options.glue)
  const c = k.constants
  const stdio = [options.stdin, options.stdout, options.stderr] as const
  // pid 1's fds that become the program's: the caller's are ours to close from here on, whatever happens.
  const moved = new Set([...stdio, ...(options.sockets ?? [])].filter(isKernelFd).map((x) => x.kernelFd))
  // pid 1's ends of the stdio pipes the runner pumps (null where the caller gave a kernel fd).
  const hostEnds: (number | null)[] = []
  const preopens = new Map<number, string>()
  let module: WebAssembly.Module
  let thread: KernelThread | null = null
  let pid: number
  try {
    module = await compile(program, name)
    checkModule(module, name, glue !== undefined)
    // sources[i] is the fd of pid 1 that the program gets as its fd i.
    const sources: number[] = []
    for (const [i, io] of stdio.entries()) {
      if (isKernelFd(io)) {
        sources.push(io.kernelFd)
        hostEnds.push(null)
        continue
      }
      const { read, write } = await kernelPipe(k.sys)
      // The program reads stdin's read end and writes the write ends of stdout and stderr.
      const [host, theirs] = i === 0 ? [write.kernelFd, read.kernelFd] : [read.kernelFd, write.kernelFd]
      hostEnds.push(host)
      moved.add(theirs)
      sources.push(theirs)
    }
    for (const [guest, kernelPath] of Object.entries(options.preopens ?? {})) {
      const fd = await k.sys.openat(c.AT_FDCWD, kernelPath, c.O_RDONLY | c.O_DIRECTORY | c.O_LARGEFILE, 0).catch((error: unknown) => {
        throw new UklklError(`preopen ${guest}: the kernel directory ${kernelPath} cannot be opened` +
          `${error instanceof LinuxError ? ` (${error.code})` : ''}`, { cause: error })
      })
      moved.add(fd)
      preopens.set(sources.length, guest)
      sources.push(fd)
    }
    for (const spec of options.sockets ?? []) {
      const fd = await openSocket(k.sys, c, spec)
      moved.add(fd)
      sources.push(fd)
    }
    thread = await k.thread({ newThreadGroup: true })
    await installFds(thread.sys, c, sources)
    pid = await thread.sys.getpid()
  } catch (error) {
    await closeAll(k, [...moved, ...hostEnds])
    await thread?.exit()
    throw error
  }
  // The task has its copies; pid 1 keeps only the host's ends, so end of file comes when the task exits.
  await closeAll(k, [...moved])

  const [stdinEnd = null, stdoutEnd = null, stderrEnd = null] = hostEnds
  const pumps = Promise.allSettled([
    stdinEnd === null || isKernelFd(options.stdin) ? null : feed(k, stdinEnd, options.stdin),
    stdoutEnd === null || isKernelFd(options.stdout) ? null : drain(k, stdoutEnd, options.stdout),
    stderrEnd === null || isKernelFd(options.stderr) ? null : drain(k, stderrEnd, options.stderr),
  ])
  const proc = new WasiProcess(thread.sys, c, preopens)
  const channel = new SharedArrayBuffer(CHANNEL_BYTES)
  const server = new ChannelServer(channel, (call) => proc.handle(call))
  const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`)
  let worker: Worker | null = null
  let outcome: WorkerOutcome
  try {
    options.onSpawn?.(pid)
    worker = spawnWorker({ module, channel, args: options.args ?? [name], env, ...(glue === undefined ? {} : { glue }) })
    outcome = await Promise.race([outcomeOf(worker), server.done.then((): never => {
      throw new UklklError(`${name}: the WASI bridge stopped serving`)
    })])
  } finally {
    server.stop()
    await worker?.terminate()
    // The task's exit closes its fds: the pumps see end of file and finish.
    await thread.exit()
  }
  const failed = (await pumps).find((p) => p.status === 'rejected')
  if (outcome.kind === 'trap') throw new WasiTrapError(name, outcome.message)
  if (outcome.kind === 'error') throw new UklklError(`${name}: the WASI bridge failed: ${outcome.message}\n${outcome.stack}`)
  if (failed !== undefined) throw failed.reason
  return outcome.code
}

function isKernelFd(x: unknown): x is WasiFd {
  return typeof x === 'object' && x !== null && 'kernelFd' in x && typeof x.kernelFd === 'number'
}

/** Close fds of pid 1, each once; a fd already gone is no error here. */
async function closeAll(k: Kernel, fds: readonly (number | null)[]): Promise<void> {
  await Promise.allSettled([...new Set(fds)].filter((fd): fd is number => fd !== null).map((fd) => k.sys.close(fd)))
}

/** The glue module as the worker imports it: a file: URL. */
function glueHref(glue: string | URL): string {
  if (glue instanceof URL) return glue.href
  // A string with a scheme (file:, data:) is a URL already; a drive letter (C:\) is a path, as is anything else.
  return /^[a-z][a-z0-9+.-]*:/i.test(glue) && !/^[a-z]:[\\/]/i.test(glue) ? glue : pathToFileURL(path.resolve(glue)).href
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

/**
 * A WASI command: it imports preview 1 functions only, and exports _start and
 * its memory. With glue, imports of other modules and the exports are the
 * glue's business; what it imports from WASI must still be preview 1.
 */
function checkModule(module: WebAssembly.Module, name: string, glued: boolean): void {
  const known = new Set<string>(WASI_FUNCTIONS)
  const unknown = WebAssembly.Module.imports(module)
    .filter((i) => (i.module === WASI_MODULE ? i.kind !== 'function' || !known.has(i.name) : !glued))
    .map((i) => `${i.module}.${i.name} (${i.kind})`)
  if (unknown.length > 0) {
    throw new WasiModuleError(name, `imports what WASI preview 1 does not have: ${unknown.join(', ')}`, unknown)
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]))
  if (!glued && exports.get('_start') !== 'function' || exports.get('memory') !== 'memory') {
    throw new WasiModuleError(name, 'not a WASI command: it must export _start and memory')
  }
}

/** Write input into the pipe at fd (pid 1's), then close it: the program sees end of file. */
async function feed(k: Kernel, fd: number, input: Exclude<WasiInput, WasiFd> | undefined): Promise<void> {
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
async function drain(k: Kernel, fd: number, output: Exclude<WasiOutput, WasiFd> | undefined): Promise<void> {
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
 * TypeScript as well: tsx's loader is registered in it first. In the package,
 * every file of dist/ sits at its top level (npm run build bundles it), the
 * worker as wasi-worker.js.
 */
function spawnWorker(input: WorkerInput): Worker {
  if (here.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api')
    const worker = new URL('./worker.ts', here).href
    const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); ` +
      `return import(${JSON.stringify(worker)}) })`
    return new Worker(boot, { eval: true, workerData: input })
  }
  return new Worker(new URL('./wasi-worker.js', here), { workerData: input })
}

/** The outcome the worker posts; a worker that dies without one is an error of the bridge. */
function outcomeOf(worker: Worker): Promise<WorkerOutcome> {
  return new Promise((resolve, reject) => {
    worker.once('message', (outcome: WorkerOutcome) => resolve(outcome))
    worker.once('error', (error) => reject(new UklklError(`the WASI worker failed: ${error.message}`, { cause: error })))
    worker.once('exit', (code) => reject(new UklklError(`the WASI worker exited (${code}) without reporting how the program ended`)))
  })
}
