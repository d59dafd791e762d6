// SPDX-License-Identifier: MIT
/**
 * fs/context.ts - what k.fs and its FileHandles share: the kernel, the error
 * mapper, chunked I/O within the user arena, and the resolution of paths under
 * the root.
 *
 * Chunks: every buffer a syscall reads into or writes from is staged in the user
 * arena (16 MiB by default), and a call whose arguments do not fit is a
 * RangeError. So k.fs moves data in chunks (1 MiB, less on a small arena), and
 * the chunks in flight across all k.fs calls share a budget of half the arena:
 * a Promise.all over many readFiles waits for room instead of failing. Calls
 * made on k.sys meanwhile share the arena too, and are not counted.
 *
 * Root: with the default root '/', a path goes to the kernel as it is, with
 * AT_FDCWD (relative paths resolve from the kernel's working directory, as
 * Node's do from process.cwd()): one syscall per operation. With another root,
 * paths resolve inside that directory as if it were "/", through openat2's
 * RESOLVE_IN_ROOT on an O_PATH descriptor of the root held open: "..", absolute
 * paths and absolute symlinks all stay inside. openat2 only opens, so operations
 * on an inode (stat, chmod, readlink ...) open it with O_PATH and act on that
 * descriptor with AT_EMPTY_PATH, and operations on a directory entry (mkdir,
 * unlink, rename ...) open its parent and act on the last name: two or three
 * syscalls instead of one, except where the parent is the root itself.
 *
 * Limits: the root's descriptor pins its mount (umount says EBUSY) until
 * KernelFs.close(). The root itself, as a last component ('/'), is named '.'
 * to the kernel: rmdir('/') says EINVAL where Linux says EBUSY.
 */
import { UklklError } from '../errors.js'
import type { Constants, Syscalls } from '../generated/kernel-api.js'
import type { Kernel } from '../kernel.js'
import { ErrorMapper } from './errors.js'
import { BigIntStats, STATX_SIZE, Stats, decodeStatx, regularFileSize } from './stats.js'

/** The largest chunk of one read or write syscall. */
const MAX_CHUNK = 1024 * 1024
/** The smallest, whatever the arena. */
const MIN_CHUNK = 4096
/** RESOLVE_IN_ROOT of include/uapi/linux/openat2.h (the generated constants lack the RESOLVE_* family). */
const RESOLVE_IN_ROOT = 0x10
/** The permission bits a mode may carry (include/linux/stat.h). */
const S_IALLUGO = 0o7777
/** sizeof(struct open_how): flags, mode, resolve, 64 bits each. */
const OPEN_HOW_SIZE = 24

/** Bytes that may be staged at once: waiters queue first come, first served. */
class Budget {
  #free: number
  readonly #waiters: { bytes: number, go: () => void }[] = []

  constructor(bytes: number) {
    this.#free = bytes
  }

  /** fn's promise, with bytes held until it settles; not async where there is room, to add one link and no more. */
  use<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
    if (this.#waiters.length > 0 || this.#free < bytes) {
      return new Promise<void>((go) => this.#waiters.push({ bytes, go })).then(() => this.#run(bytes, fn))
    }
    this.#free -= bytes
    return this.#run(bytes, fn)
  }

  /** fn with bytes taken from the budget: they go back, and to the waiters, when it settles. */
  #run<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
    let result: Promise<T>
    try {
      result = fn()
    } catch (error) {
      this.#release(bytes)
      return Promise.reject(error)
    }
    return result.then((value) => {
      this.#release(bytes)
      return value
    }, (error: unknown) => {
      this.#release(bytes)
      throw error
    })
  }

  #release(bytes: number): void {
    this.#free += bytes
    for (let next = this.#waiters[0]; next !== undefined && next.bytes <= this.#free; next = this.#waiters[0]) {
      this.#waiters.shift()
      this.#free -= next.bytes
      next.go()
    }
  }
}

/** What an operation on an inode gets: the file as (dirfd, path) with the AT_* flags that go with them. */
export interface InodeRef {
  dirfd: number
  path: string
  /** 0 or AT_SYMLINK_NOFOLLOW with a path, AT_EMPTY_PATH with an O_PATH descriptor. */
  atFlags: number
}

/** A position as Node takes it: null (or -1) for the file's own offset. */
export type Position = number | bigint | null

export class FsContext {
  readonly k: Kernel
  readonly sys: Syscalls
  readonly C: Constants
  readonly errors: ErrorMapper
  /** Bytes per read or write syscall. */
  readonly chunk: number
  readonly #budget: Budget
  /** The root as given (no trailing slash), or null for '/'. */
  readonly #root: string | null
  #rootFd: Promise<number> | null = null
  /** The root's descriptor once #rootFd has resolved, until close. */
  #openRoot: number | null = null
  readonly #how = new DataView(new ArrayBuffer(OPEN_HOW_SIZE))
  #closed = false

  constructor(k: Kernel, root: string) {
    this.k = k
    this.sys = k.sys
    this.C = k.constants
    this.errors = new ErrorMapper(k.image.data.errnoText)
    const arena = k.stats().userMemory?.size ?? 16 * 1024 * 1024
    this.chunk = Math.max(MIN_CHUNK, Math.min(MAX_CHUNK, Math.floor(arena / 16 / MIN_CHUNK) * MIN_CHUNK))
    this.#budget = new Budget(Math.max(this.chunk, Math.floor(arena / 2)))
    if (!root.startsWith('/')) throw new TypeError(`root must be an absolute kernel path, not ${JSON.stringify(root)}`)
    const trimmed = root.replace(/\/+$/, '')
    this.#root = trimmed === '' ? null : trimmed
  }

  /** Run fn with bytes of the staging budget held. */
  staged<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
    return this.#budget.use(Math.min(bytes, this.chunk), fn)
  }

  // ---- data ---------------------------------------------------------------------

  /**
   * Read into into from position (null: the file offset), a chunk per syscall,
   * until it is full or a read comes back short; resolves with the bytes read.
   * Throws LinuxError.
   */
  async readInto(fd: number, into: Uint8Array, position: Position): Promise<number> {
    let done = 0
    while (done < into.length) {
      const length = Math.min(this.chunk, into.length - done)
      // Exactly length bytes: the kernel writes count bytes into the staged copy of the view.
      const view = into.subarray(done, done + length)
      const got = await this.staged(length, () => position === null
        ? this.sys.read(fd, view, length)
        : this.sys.pread64(fd, view, length, BigInt(position) + BigInt(done)))
      done += got
      if (got < length) break
    }
    return done
  }

  /** Write all of data at position (null: the file offset), a chunk per syscall; resolves with the bytes written. */
  async writeFrom(fd: number, data: Uint8Array, position: Position): Promise<number> {
    let done = 0
    while (done < data.length) {
      const length = Math.min(this.chunk, data.length - done)
      const view = data.subarray(done, done + length)
      const put = await this.staged(length, () => position === null
        ? this.sys.write(fd, view, length)
        : this.sys.pwrite64(fd, view, length, BigInt(position) + BigInt(done)))
      // A write of 0 bytes for a non-empty buffer makes no progress: what was written is the answer.
      if (put === 0) break
      done += put
    }
    return done
  }

  /** The whole rest of the file at fd (Node's readFile on an open file). Errors name fstat and read, without a path. */
  async readRest(fd: number): Promise<Buffer> {
    const stx = await this.errors.call('fstat', undefined, () => this.statx(fd, '', this.C.AT_EMPTY_PATH))
    // Non-regular files (pipes, /proc) report no useful size: read until end of file.
    const size = regularFileSize(stx) ?? 0
    if (size > MAX_FILE_LENGTH) throw new RangeError(`file size ${size} is larger than a Buffer (${MAX_FILE_LENGTH} bytes)`)
    return this.errors.call('read', undefined, async () => {
      if (size > 0) {
        const buffer = Buffer.allocUnsafe(size)
        return buffer.subarray(0, await this.readInto(fd, buffer, null))
      }
      const parts: Buffer[] = []
      for (;;) {
        const part = Buffer.allocUnsafe(this.chunk)
        const got = await this.readInto(fd, part, null)
        parts.push(part.subarray(0, got))
        if (got < part.length) return Buffer.concat(parts)
      }
    })
  }

  // ---- stat -----------------------------------------------------------------------

  /** The struct statx of (dirfd, path) with atFlags; throws LinuxError. */
  async statx(dirfd: number, path: string, atFlags: number): Promise<Uint8Array> {
    const C = this.C
    const buffer = new Uint8Array(STATX_SIZE)
    await this.sys.statx(dirfd, path, atFlags | C.AT_STATX_SYNC_AS_STAT, C.STATX_BASIC_STATS | C.STATX_BTIME, buffer)
    return buffer
  }

  static stats(raw: Uint8Array, bigint: boolean | undefined): Stats | BigIntStats {
    return bigint === true ? new BigIntStats(decodeStatx(raw)) : new Stats(decodeStatx(raw))
  }

  // ---- paths ----------------------------------------------------------------------

  /**
   * open(2) of path under the root; throws LinuxError. O_LARGEFILE is added: this 32-bit kernel does not force it.
   * Not async, and the root's descriptor taken as a number once it is open: open is on every k.fs path,
   * and each promise link costs it a microtask.
   */
  open(path: string, flags: number, mode: number): Promise<number> {
    checkPath(path)
    const C = this.C
    const all = (flags & C.O_PATH) === 0 ? flags | C.O_LARGEFILE : flags
    if (this.#root === null) return this.sys.openat(C.AT_FDCWD, path, all, mode)
    const root = this.#openRoot
    return root !== null ? this.sys.openat2(root, path, this.#openHow(all, mode), OPEN_HOW_SIZE)
      : this.#rootDescriptor().then((fd) => this.sys.openat2(fd, path, this.#openHow(all, mode), OPEN_HOW_SIZE))
  }

  /**
   * struct open_how (flags, mode, resolve: 64-bit fields, each below 2^32) for openat2 under the root,
   * in the one array every call shares: k.sys copies it into the kernel's memory as the call is made,
   * so it is filled right before each call (the copy back after it, since the kernel's prototype lacks
   * const, brings back the same bytes).
   */
  #openHow(flags: number, mode: number): Uint8Array {
    const how = this.#how
    how.setUint32(0, flags >>> 0, true)
    // openat2 refuses what openat ignores: a mode without O_CREAT or O_TMPFILE, and bits beyond S_IALLUGO.
    const C = this.C
    how.setUint32(8, (flags & C.O_CREAT) !== 0 || (flags & C.O_TMPFILE) === C.O_TMPFILE ? mode & S_IALLUGO : 0, true)
    how.setUint32(16, RESOLVE_IN_ROOT, true)
    return new Uint8Array(how.buffer)
  }

  /** fn on the inode at path (its last symlink followed when follow); throws LinuxError. */
  async inode<T>(path: string, follow: boolean, fn: (ref: InodeRef) => Promise<T>): Promise<T> {
    checkPath(path)
    const C = this.C
    if (this.#root === null) return fn({ dirfd: C.AT_FDCWD, path, atFlags: follow ? 0 : C.AT_SYMLINK_NOFOLLOW })
    const fd = await this.open(path, C.O_PATH | C.O_CLOEXEC | (follow ? 0 : C.O_NOFOLLOW), 0)
    try {
      return await fn({ dirfd: fd, path: '', atFlags: C.AT_EMPTY_PATH })
    } finally {
      await this.sys.close(fd)
    }
  }

  /** fn on the directory entry path names: its parent as a dirfd and its last name; throws LinuxError. */
  async entry<T>(path: string, fn: (dirfd: number, name: string) => Promise<T>): Promise<T> {
    checkPath(path)
    const C = this.C
    if (this.#root === null) return fn(C.AT_FDCWD, path)
    // The last name keeps its trailing slashes (they mean "a directory" to the kernel).
    let end = path.length
    while (end > 1 && path[end - 1] === '/') end--
    const slash = path.lastIndexOf('/', end - 1)
    const parent = slash < 0 ? '' : path.slice(0, slash + 1)
    // An absolute name would leave the dirfd behind; the root as a last name is '.'.
    const name = path.slice(slash + 1) === '' && path !== '' ? '.' : path.slice(slash + 1)
    if (/^\/*$/.test(parent)) return fn(await this.#rootDescriptor(), name)
    const dirfd = await this.open(parent, C.O_PATH | C.O_DIRECTORY | C.O_CLOEXEC, 0)
    try {
      return await fn(dirfd, name)
    } finally {
      await this.sys.close(dirfd)
    }
  }

  /** Release the root's descriptor; later operations reject. */
  async close(): Promise<void> {
    this.#closed = true
    const fd = this.#rootFd
    this.#rootFd = null
    this.#openRoot = null
    // A root that never opened has nothing to close.
    const descriptor = fd === null ? null : await fd.catch(() => null)
    if (descriptor !== null) await this.sys.close(descriptor)
  }

  #rootDescriptor(): Promise<number> {
    if (this.#closed) throw new UklklError(`this k.fs (root ${this.#root ?? '/'}) is closed`)
    if (this.#rootFd === null) {
      const root = this.#root ?? '/'
      const opening = this.errors.call('open', root,
        () => this.sys.openat(this.C.AT_FDCWD, root, this.C.O_PATH | this.C.O_DIRECTORY | this.C.O_CLOEXEC, 0))
      // A root that failed to open is tried again by the next operation.
      opening.then((fd) => {
        if (this.#rootFd === opening) this.#openRoot = fd
      }, () => {
        if (this.#rootFd === opening) this.#rootFd = null
      })
      this.#rootFd = opening
    }
    return this.#rootFd
  }
}

/** Node's kIoMaxLength: the largest file readFile reads into one Buffer. */
const MAX_FILE_LENGTH = 2 ** 31 - 1

/** Node refuses a path with a NUL byte; to the kernel it would end the string early. */
function checkPath(path: string): void {
  if (typeof path !== 'string') throw new TypeError(`a path must be a string, not ${typeof path}`)
  if (path.includes('\0')) throw new TypeError(`a path must not contain a NUL byte: ${JSON.stringify(path)}`)
}
