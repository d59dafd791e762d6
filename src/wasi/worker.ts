// SPDX-License-Identifier: MIT
/**
 * worker.ts - the worker thread a WASI program runs in: it instantiates the
 * module with a wasi_snapshot_preview1 import table whose functions read their
 * arguments out of the program's memory, make one blocking call to the kernel's
 * thread over the channel (channel.ts), and write the answer back.
 *
 * Everything that touches the program's memory is here, and every pointer is
 * checked against it first: a range outside the memory is EFAULT for the
 * program, never a trap of the bridge (the kernel side only sees bytes). Output
 * pointers are checked before the call, so that a call that would create
 * something (path_open's fd) does not happen when its result could not be
 * delivered. args and environ are answered here; the rest crosses over.
 *
 * Writes bigger than the channel's data area go as several kernel writes (one
 * short write ends the loop, as writev would); reads and recvs are capped at it
 * (a short read, which WASI allows); fd_readdir fills the program's buffer with
 * as many calls as it takes.
 *
 * A module that is not a plain command runs through glue: a JS module imported
 * here whose default export instantiates the module itself, with the import
 * table wrapped in an object shaped like node:wasi's WASI (so that glue written
 * for node:wasi, such as ruby.wasm's RubyVM.instantiateModule, runs unchanged).
 *
 * The worker reports how the program ended with one message: exit (code), trap
 * (a WebAssembly trap or a stack overflow in the program) or error (anything else).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { IOVEC_SIZE, SUBSCRIPTION_SIZE, EVENT_SIZE, WASI_ERRNO, WASI_MODULE, type WasiFunction } from './abi.js'
import { ChannelClient, DATA_SIZE, Op } from './channel.js'

/** What the runner sends the worker. */
export interface WorkerInput {
  module: WebAssembly.Module
  channel: SharedArrayBuffer
  args: readonly string[]
  env: readonly string[]
  /** The URL of a glue module (RunWasiOptions.glue) that instantiates and drives the module itself. */
  glue?: string
}

/** How the program ended, as the worker reports it. */
export type WorkerOutcome =
  | { kind: 'exit', code: number }
  | { kind: 'trap', message: string }
  | { kind: 'error', message: string, stack: string }

/** proc_exit's way out of the program's stack. */
class ProcExit {
  constructor(readonly code: number) {}
}

/** A pointer range outside the program's memory. */
class Fault {}
const FAULT = new Fault()

type WasiImport = (...args: (number & bigint)[]) => number

const ESUCCESS = 0

/** The import table of one program, over client, with its argv and environ. */
export function wasiImports(client: ChannelClient, argv: readonly string[], environ: readonly string[],
  memory: () => WebAssembly.Memory): Record<WasiFunction, WasiImport> {
  const { args, data } = client
  const encode = (list: readonly string[]): Uint8Array[] => list.map((s) => new TextEncoder().encode(`${s}\0`))
  const argvBytes = encode(argv)
  const environBytes = encode(environ)

  /** The program's memory at [ptr, ptr + length), or FAULT. */
  const bytes = (ptr: number, length: number): Uint8Array => {
    const buffer = memory().buffer
    const at = ptr >>> 0
    const size = length >>> 0
    if (at + size > buffer.byteLength) throw FAULT
    return new Uint8Array(buffer, at, size)
  }
  const view = (ptr: number, length: number): DataView => {
    const b = bytes(ptr, length)
    return new DataView(b.buffer, b.byteOffset, b.byteLength)
  }
  const u32 = (ptr: number, value: number): void => view(ptr, 4).setUint32(0, value, true)
  const u64 = (ptr: number, value: bigint): void => view(ptr, 8).setBigUint64(0, value, true)
  /** The iovecs (or ciovecs) at ptr, each checked. */
  const iovecs = (ptr: number, count: number): Uint8Array[] => {
    const table = view(ptr, (count >>> 0) * IOVEC_SIZE)
    const list: Uint8Array[] = []
    for (let i = 0; i < count >>> 0; i++) {
      list.push(bytes(table.getUint32(i * IOVEC_SIZE, true), table.getUint32(i * IOVEC_SIZE + 4, true)))
    }
    return list
  }
  /** A path (or any byte string) of the program's into data at offset; false if it does not fit. */
  const put = (ptr: number, length: number, offset = 0): boolean => {
    if ((length >>> 0) + offset > DATA_SIZE) return false
    data.set(bytes(ptr, length), offset)
    return true
  }
  const answer = (): Uint8Array => data.subarray(0, client.answerLength)

  /** Write the iovecs with op (fd_write, fd_pwrite, sock_send) in chunks of the data area. */
  const gatherWrite = (op: number, fd: number, list: Uint8Array[], offset: bigint | null, once: boolean): [number, number] => {
    let total = 0
    let index = 0
    let within = 0
    for (;;) {
      let length = 0
      while (length < DATA_SIZE && index < list.length) {
        const iov = list[index] ?? new Uint8Array(0)
        const take = Math.min(iov.length - within, DATA_SIZE - length)
        data.set(iov.subarray(within, within + take), length)
        length += take
        within += take
        if (within === iov.length) {
          index++
          within = 0
        }
      }
      args[0] = BigInt(fd)
      if (offset !== null) args[1] = offset + BigInt(total)
      const errno = client.call(op, length)
      // An error after some bytes went is reported as the short write it is.
      if (errno !== ESUCCESS) return total > 0 ? [ESUCCESS, total] : [errno, 0]
      const written = Number(args[0])
      total += written
      if (once || written < length || index >= list.length) return [ESUCCESS, total]
    }
  }
  /** Scatter the answer's bytes over the iovecs. */
  const scatter = (list: Uint8Array[]): number => {
    const got = answer()
    let at = 0
    for (const iov of list) {
      if (at >= got.length) break
      const take = Math.min(iov.length, got.length - at)
      iov.set(got.subarray(at, at + take))
      at += take
    }
    return got.length
  }
  const capacity = (list: Uint8Array[]): number => Math.min(list.reduce((n, iov) => n + iov.length, 0), DATA_SIZE)
  /** A call with integer arguments only; its errno. */
  const simple = (op: number, ...values: (number | bigint)[]): number => {
    values.forEach((v, i) => {
      args[i] = BigInt(v)
    })
    return client.call(op)
  }
  /** fd_read, fd_pread (offset not null): into the iovecs at iovs, the count read at nread. */
  const readVectors = (op: number, fd: number, iovs: number, count: number, offset: bigint | null, nread: number): number => {
    const list = iovecs(iovs, count)
    bytes(nread, 4)
    const errno = offset === null ? simple(op, fd, capacity(list)) : simple(op, fd, capacity(list), offset)
    if (errno === ESUCCESS) u32(nread, scatter(list))
    return errno
  }
  /** fd_write, fd_pwrite (offset not null): from the iovecs at iovs, the count written at nwritten. */
  const writeVectors = (op: number, fd: number, iovs: number, count: number, offset: bigint | null, nwritten: number): number => {
    const list = iovecs(iovs, count)
    bytes(nwritten, 4)
    const [errno, total] = gatherWrite(op, fd, list, offset, false)
    if (errno === ESUCCESS) u32(nwritten, total)
    return errno
  }
  /** A call on one path (at data's start), integers first. */
  const withPath = (op: number, ptr: number, length: number, ...values: (number | bigint)[]): number => {
    if (!put(ptr, length)) return WASI_ERRNO.ENAMETOOLONG
    values.forEach((v, i) => {
      args[i] = BigInt(v)
    })
    return client.call(op, length >>> 0)
  }
  /** A call on two byte strings sent one after the other. */
  const withTwo = (op: number, p1: number, l1: number, p2: number, l2: number, ...values: (number | bigint)[]): number => {
    if (!put(p1, l1) || !put(p2, l2, l1 >>> 0)) return WASI_ERRNO.ENAMETOOLONG
    values.forEach((v, i) => {
      args[i] = BigInt(v)
    })
    return client.call(op, (l1 >>> 0) + (l2 >>> 0))
  }
  /** Check the output range, make the call, copy the answer's bytes there. */
  const intoMemory = (ptr: number, size: number, call: () => number): number => {
    const out = bytes(ptr, size)
    const errno = call()
    if (errno === ESUCCESS) out.set(answer().subarray(0, size))
    return errno
  }
  const listSizes = (list: Uint8Array[], countPtr: number, sizePtr: number): number => {
    u32(countPtr, list.length)
    u32(sizePtr, list.reduce((n, s) => n + s.length, 0))
    return ESUCCESS
  }
  const listGet = (list: Uint8Array[], pointersPtr: number, bufferPtr: number): number => {
    let at = bufferPtr >>> 0
    list.forEach((s, i) => {
      u32(pointersPtr + 4 * i, at)
      bytes(at, s.length).set(s)
      at += s.length
    })
    return ESUCCESS
  }

  const table: Record<WasiFunction, (...a: never[]) => number> = {
    args_sizes_get: (countPtr: number, sizePtr: number) => listSizes(argvBytes, countPtr, sizePtr),
    args_get: (pointers: number, buffer: number) => listGet(argvBytes, pointers, buffer),
    environ_sizes_get: (countPtr: number, sizePtr: number) => listSizes(environBytes, countPtr, sizePtr),
    environ_get: (pointers: number, buffer: number) => listGet(environBytes, pointers, buffer),
    clock_res_get: (id: number, out: number) => {
      bytes(out, 8)
      const errno = simple(Op.clock_res_get, id)
      if (errno === ESUCCESS) u64(out, BigInt.asUintN(64, args[0] ?? 0n))
      return errno
    },
    clock_time_get: (id: number, _precision: bigint, out: number) => {
      bytes(out, 8)
      const errno = simple(Op.clock_time_get, id)
      if (errno === ESUCCESS) u64(out, BigInt.asUintN(64, args[0] ?? 0n))
      return errno
    },
    fd_advise: (fd: number, offset: bigint, length: bigint, advice: number) => simple(Op.fd_advise, fd, offset, length, advice),
    fd_allocate: (fd: number, offset: bigint, length: bigint) => simple(Op.fd_allocate, fd, offset, length),
    fd_close: (fd: number) => simple(Op.fd_close, fd),
    fd_datasync: (fd: number) => simple(Op.fd_datasync, fd),
    fd_sync: (fd: number) => simple(Op.fd_sync, fd),
    fd_fdstat_get: (fd: number, out: number) => intoMemory(out, 24, () => simple(Op.fd_fdstat_get, fd)),
    fd_fdstat_set_flags: (fd: number, flags: number) => simple(Op.fd_fdstat_set_flags, fd, flags),
    // Rights are derived from the open mode (process.ts), so there is nothing to narrow.
    fd_fdstat_set_rights: () => WASI_ERRNO.ENOSYS,
    fd_filestat_get: (fd: number, out: number) => intoMemory(out, 64, () => simple(Op.fd_filestat_get, fd)),
    fd_filestat_set_size: (fd: number, size: bigint) => simple(Op.fd_filestat_set_size, fd, size),
    fd_filestat_set_times: (fd: number, atim: bigint, mtim: bigint, flags: number) =>
      simple(Op.fd_filestat_set_times, fd, atim, mtim, flags),
    fd_prestat_get: (fd: number, out: number) => intoMemory(out, 8, () => simple(Op.fd_prestat_get, fd)),
    fd_prestat_dir_name: (fd: number, ptr: number, length: number) =>
      intoMemory(ptr, length, () => simple(Op.fd_prestat_dir_name, fd, length >>> 0)),
    fd_read: (fd: number, iovs: number, count: number, nread: number) => readVectors(Op.fd_read, fd, iovs, count, null, nread),
    fd_pread: (fd: number, iovs: number, count: number, offset: bigint, nread: number) =>
      readVectors(Op.fd_pread, fd, iovs, count, offset, nread),
    fd_write: (fd: number, iovs: number, count: number, nwritten: number) =>
      writeVectors(Op.fd_write, fd, iovs, count, null, nwritten),
    fd_pwrite: (fd: number, iovs: number, count: number, offset: bigint, nwritten: number) =>
      writeVectors(Op.fd_pwrite, fd, iovs, count, offset, nwritten),
    fd_readdir: (fd: number, buf: number, length: number, cookie: bigint, bufused: number) => {
      const out = bytes(buf, length)
      bytes(bufused, 4)
      let used = 0
      let next = cookie
      while (used < out.length) {
        const errno = simple(Op.fd_readdir, fd, next, Math.min(out.length - used, DATA_SIZE))
        if (errno !== ESUCCESS) {
          if (used === 0) return errno
          break
        }
        const got = answer()
        out.set(got, used)
        used += got.length
        next = args[1] ?? next
        if (args[0] === 1n || got.length === 0) break
      }
      u32(bufused, used)
      return ESUCCESS
    },
    fd_renumber: (from: number, to: number) => simple(Op.fd_renumber, from, to),
    fd_seek: (fd: number, offset: bigint, whence: number, out: number) => {
      bytes(out, 8)
      const errno = simple(Op.fd_seek, fd, offset, whence)
      if (errno === ESUCCESS) u64(out, BigInt.asUintN(64, args[0] ?? 0n))
      return errno
    },
    fd_tell: (fd: number, out: number) => {
      bytes(out, 8)
      const errno = simple(Op.fd_seek, fd, 0, 1)
      if (errno === ESUCCESS) u64(out, BigInt.asUintN(64, args[0] ?? 0n))
      return errno
    },
    path_create_directory: (fd: number, path: number, length: number) => withPath(Op.path_create_directory, path, length, fd),
    path_remove_directory: (fd: number, path: number, length: number) => withPath(Op.path_remove_directory, path, length, fd),
    path_unlink_file: (fd: number, path: number, length: number) => withPath(Op.path_unlink_file, path, length, fd),
    path_filestat_get: (fd: number, flags: number, path: number, length: number, out: number) =>
      intoMemory(out, 64, () => withPath(Op.path_filestat_get, path, length, fd, flags)),
    path_filestat_set_times: (fd: number, flags: number, path: number, length: number, atim: bigint, mtim: bigint, fst: number) =>
      withPath(Op.path_filestat_set_times, path, length, fd, flags, atim, mtim, fst),
    path_link: (oldFd: number, oldFlags: number, oldPath: number, oldLength: number, newFd: number, newPath: number, newLength: number) =>
      withTwo(Op.path_link, oldPath, oldLength, newPath, newLength, oldFd, oldFlags, oldLength >>> 0, newFd),
    path_open: (fd: number, lookup: number, path: number, length: number, oflags: number, base: bigint, _inheriting: bigint,
      fdflags: number, out: number) => {
      bytes(out, 4)
      const errno = withPath(Op.path_open, path, length, fd, lookup, oflags, base, fdflags)
      if (errno === ESUCCESS) u32(out, Number(args[0]))
      return errno
    },
    path_readlink: (fd: number, path: number, length: number, buf: number, size: number, used: number) => {
      const out = bytes(buf, size)
      bytes(used, 4)
      const errno = withPath(Op.path_readlink, path, length, fd, size >>> 0)
      if (errno === ESUCCESS) {
        out.set(answer())
        u32(used, client.answerLength)
      }
      return errno
    },
    path_rename: (fd: number, oldPath: number, oldLength: number, newFd: number, newPath: number, newLength: number) =>
      withTwo(Op.path_rename, oldPath, oldLength, newPath, newLength, fd, oldLength >>> 0, newFd),
    path_symlink: (target: number, targetLength: number, fd: number, path: number, length: number) =>
      withTwo(Op.path_symlink, target, targetLength, path, length, fd, targetLength >>> 0),
    poll_oneoff: (subs: number, events: number, count: number, nevents: number) => {
      const n = count >>> 0
      if (n * SUBSCRIPTION_SIZE > DATA_SIZE) return WASI_ERRNO.ENOTSUP
      const out = bytes(events, n * EVENT_SIZE)
      bytes(nevents, 4)
      if (!put(subs, n * SUBSCRIPTION_SIZE)) return WASI_ERRNO.EINVAL
      const errno = client.call(Op.poll_oneoff, n * SUBSCRIPTION_SIZE)
      if (errno === ESUCCESS) {
        out.set(answer())
        u32(nevents, Number(args[0]))
      }
      return errno
    },
    proc_exit: (code: number) => {
      throw new ProcExit(code >>> 0)
    },
    // As wasmtime answers: wasi-libc's raise() acts on the default disposition itself, and abort() traps.
    proc_raise: () => WASI_ERRNO.ENOSYS,
    sched_yield: () => simple(Op.sched_yield),
    random_get: (buf: number, length: number) => {
      const out = bytes(buf, length)
      for (let at = 0; at < out.length;) {
        const size = Math.min(out.length - at, DATA_SIZE)
        const errno = simple(Op.random_get, size)
        if (errno !== ESUCCESS) return errno
        out.set(answer(), at)
        at += size
      }
      return ESUCCESS
    },
    sock_accept: (fd: number, flags: number, out: number) => {
      bytes(out, 4)
      const errno = simple(Op.sock_accept, fd, flags)
      if (errno === ESUCCESS) u32(out, Number(args[0]))
      return errno
    },
    sock_recv: (fd: number, iovs: number, count: number, flags: number, datalen: number, roflags: number) => {
      const list = iovecs(iovs, count)
      bytes(datalen, 4)
      bytes(roflags, 2)
      const errno = simple(Op.sock_recv, fd, capacity(list), flags)
      if (errno === ESUCCESS) {
        u32(datalen, scatter(list))
        view(roflags, 2).setUint16(0, 0, true)
      }
      return errno
    },
    sock_send: (fd: number, iovs: number, count: number, _flags: number, sent: number) => {
      const list = iovecs(iovs, count)
      bytes(sent, 4)
      const [errno, total] = gatherWrite(Op.sock_send, fd, list, null, true)
      if (errno === ESUCCESS) u32(sent, total)
      return errno
    },
    sock_shutdown: (fd: number, how: number) => simple(Op.sock_shutdown, fd, how),
  }
  const imports = {} as Record<WasiFunction, WasiImport>
  for (const [name, fn] of Object.entries(table) as [WasiFunction, (...a: never[]) => number][]) {
    imports[name] = (...a) => {
      try {
        return fn(...(a as never[]))
      } catch (error) {
        if (error === FAULT) return WASI_ERRNO.EFAULT
        throw error
      }
    }
  }
  return imports
}

/** What a glue module's default export is handed: node:wasi's WASI, as far as glue code uses it. */
export interface GlueWasi {
  readonly wasiImport: Record<WasiFunction, WasiImport>
  /** Run the command's _start; resolves to its exit code (proc_exit's, or 0), as node:wasi's with returnOnExit. */
  start(instance: WebAssembly.Instance): number
  /** Bind the reactor's memory and run its _initialize, if it has one. */
  initialize(instance: WebAssembly.Instance): void
}

/** A glue module's default export. */
export type Glue = (module: WebAssembly.Module, wasi: GlueWasi, args: readonly string[]) => Promise<number | undefined> | number | undefined

/** Run the program of workerData; post its outcome. */
async function main(input: WorkerInput): Promise<WorkerOutcome> {
  let memory: WebAssembly.Memory | null = null
  const getMemory = (): WebAssembly.Memory => {
    if (memory === null) throw new Error('the program called WASI before its memory was exported')
    return memory
  }
  const bind = (instance: WebAssembly.Instance): void => {
    const exported = instance.exports.memory
    if (!(exported instanceof WebAssembly.Memory)) throw new TypeError('the module exports no memory')
    memory = exported
  }
  const client = new ChannelClient(input.channel)
  try {
    const wasiImport = wasiImports(client, input.args, input.env, getMemory)
    const wasi: GlueWasi = {
      wasiImport,
      start(instance) {
        bind(instance)
        const start = instance.exports._start
        if (typeof start !== 'function') throw new TypeError('the module exports no _start')
        try {
          ;(start as () => void)()
        } catch (error) {
          if (error instanceof ProcExit) return error.code
          throw error
        }
        return 0
      },
      initialize(instance) {
        bind(instance)
        const initialize = instance.exports._initialize
        if (typeof initialize === 'function') (initialize as () => void)()
      },
    }
    if (input.glue !== undefined) {
      const glue = (await import(input.glue) as { default?: unknown }).default
      if (typeof glue !== 'function') return { kind: 'error', message: `the glue ${input.glue} has no default export to call`, stack: '' }
      const code: unknown = await (glue as Glue)(input.module, wasi, input.args)
      return { kind: 'exit', code: typeof code === 'number' ? code >>> 0 : 0 }
    }
    return { kind: 'exit', code: wasi.start(new WebAssembly.Instance(input.module, { [WASI_MODULE]: wasiImport })) }
  } catch (error) {
    if (error instanceof ProcExit) return { kind: 'exit', code: error.code }
    // A RangeError is the program's own stack overflowing: a trap of the program, like the others.
    if (error instanceof WebAssembly.RuntimeError || error instanceof RangeError) return { kind: 'trap', message: error.message }
    const e = error instanceof Error ? error : new Error(String(error))
    return { kind: 'error', message: e.message, stack: e.stack ?? '' }
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'channel' in workerData) {
  const port = parentPort
  void main(workerData as WorkerInput).then((outcome) => port.postMessage(outcome))
}
