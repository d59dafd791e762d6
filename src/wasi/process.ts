// SPDX-License-Identifier: MIT
/**
 * process.ts - the kernel's side of a WASI program: its process (a kernel task
 * of a thread group of its own, with an fd table of its own) and the WASI calls
 * served on it as Linux syscalls.
 *
 * WASI fds are the task's kernel fds: 0–2 are whatever the runner put there
 * (pipe ends), 3… the preopened directories in order. Paths never leave a
 * preopen: every lookup from a directory fd goes through openat2 with
 * RESOLVE_BENEATH (an absolute path, a ".." above the directory or a symlink
 * pointing out is refused, ENOTCAPABLE as WASI names it), and calls that take
 * a path but no resolve flags (mkdirat, unlinkat, renameat2, linkat,
 * symlinkat, readlinkat) get the parent resolved that way first and act on the
 * last component only. Rights are not stored: fd_fdstat_get derives them from
 * the file type and the open mode, and the kernel's own checks (EBADF on a read
 * of a write-only fd, EISDIR, …) are what refuses a call.
 *
 * Limits: fd_fdstat_set_rights and proc_raise answer ENOSYS; DSYNC/RSYNC/SYNC
 * cannot be set after open (ENOTSUP), as on Linux; fd_readdir gives "." and ".."
 * as the kernel lists them; poll_oneoff reports nbytes 0 for ready fds.
 */
import { LinuxError } from '../errors.js'
import type { Constants, Syscalls } from '../generated/kernel-api.js'
import {
  ALL_RIGHTS, DIRENT_HEADER, EVENT_FD_READWRITE_HANGUP, EVENT_SIZE, EVENTTYPE, FDFLAGS, FDSTAT_SIZE, FILESTAT_SIZE,
  FILETYPE, FSTFLAGS, LOOKUP_SYMLINK_FOLLOW, OFLAGS, PREOPENTYPE_DIR, PRESTAT_SIZE, READ_RIGHTS, RIFLAGS, RIGHTS,
  SUBCLOCK_ABSTIME, SUBSCRIPTION_SIZE, WASI_ERRNO, WRITE_RIGHTS,
  fileTypeOfDtype, fileTypeOfMode, wasiErrno,
} from './abi.js'
import { type Call, DATA_SIZE, Op } from './channel.js'

/* openat2's resolve flag (uapi linux/openat2.h): no lookup leaves the starting directory. */
const RESOLVE_BENEATH = 0x08
/* sizeof(struct open_how): flags, mode, resolve, each a u64 (uapi linux/openat2.h). */
const OPEN_HOW_SIZE = 24
/* struct statx: the fixed uapi layout; dev_major/minor are not in the generated decoder. */
const STATX_SIZE = 256
const STATX_DEV_MAJOR = 136
const STATX_DEV_MINOR = 140
/* struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, then the name. */
const DIRENT64_NAME = 19
const NS = 1_000_000_000n

/** Rights every fd that is not a directory has, whatever its mode. */
const FILE_RIGHTS = RIGHTS.FD_SEEK | RIGHTS.FD_TELL | RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_SYNC | RIGHTS.FD_ADVISE |
  RIGHTS.FD_FILESTAT_GET | RIGHTS.FD_FILESTAT_SET_TIMES | RIGHTS.POLL_FD_READWRITE
/** A directory may do everything to what is under it, but not read or write bytes itself. */
const DIRECTORY_RIGHTS = ALL_RIGHTS & ~(READ_RIGHTS | WRITE_RIGHTS | RIGHTS.FD_SEEK | RIGHTS.FD_TELL |
  RIGHTS.SOCK_ACCEPT | RIGHTS.SOCK_SHUTDOWN) | RIGHTS.FD_READDIR

/** A WASI call's failure: the errno the program gets. */
class WasiFailure {
  constructor(readonly errno: number) {}
}

export interface Answer {
  errno: number
  length: number
}

/** A kernel's side of one program: its task's syscalls and what WASI knows of its fds. */
export class WasiProcess {
  readonly #sys: Syscalls
  readonly #c: Constants
  /** Preopened directories: fd → the name the program knows it by. */
  readonly #preopens: Map<number, Uint8Array>
  readonly #statx = new Uint8Array(STATX_SIZE)

  /** sys: the program's task (its fds are the program's); preopens: fd → guest name. */
  constructor(sys: Syscalls, constants: Constants, preopens: ReadonlyMap<number, string>) {
    this.#sys = sys
    this.#c = constants
    this.#preopens = new Map([...preopens].map(([fd, name]) => [fd, new TextEncoder().encode(name)]))
  }

  /**
   * Serve one call. A Linux error becomes the program's WASI errno; anything
   * else (the kernel stopped, a bug here) is thrown and ends the program.
   */
  async handle(call: Call): Promise<Answer> {
    try {
      return await this.#dispatch(call)
    } catch (error) {
      if (error instanceof WasiFailure) return { errno: error.errno, length: 0 }
      if (error instanceof LinuxError) return { errno: wasiErrno(error.code), length: 0 }
      throw error
    }
  }

  async #dispatch(call: Call): Promise<Answer> {
    const sys = this.#sys
    const c = this.#c
    const a = call.args
    const int = (i: number): number => Number(a[i] ?? 0n)
    const big = (i: number): bigint => a[i] ?? 0n
    const ok = (length = 0): Answer => ({ errno: 0, length })
    /** The answer's integer result in args[0]. */
    const result = (value: number | bigint): Answer => {
      a[0] = BigInt(value)
      return ok()
    }
    switch (call.op) {
      case Op.fd_read: {
        const size = Math.min(int(1), DATA_SIZE)
        return ok(await sys.read(int(0), call.out.subarray(0, size), size))
      }
      case Op.fd_pread: {
        const size = Math.min(int(1), DATA_SIZE)
        return ok(await sys.pread64(int(0), call.out.subarray(0, size), size, big(2)))
      }
      case Op.fd_write:
        return result(await sys.write(int(0), call.data, call.data.length))
      case Op.fd_pwrite:
        return result(await sys.pwrite64(int(0), call.data, call.data.length, big(1)))
      case Op.fd_seek:
        return result(await this.#seek(int(0), big(1), int(2)))
      case Op.fd_close:
        await sys.close(int(0))
        this.#preopens.delete(int(0))
        return ok()
      case Op.fd_sync:
        await sys.fsync(int(0))
        return ok()
      case Op.fd_datasync:
        await sys.fdatasync(int(0))
        return ok()
      case Op.fd_advise:
        // WASI numbers SEQUENTIAL 1 and RANDOM 2; Linux's POSIX_FADV_* swap them.
        await sys.fadvise64_64(int(0), big(1), big(2), [0, 2, 1, 3, 4, 5][int(3)] ?? -1)
        return ok()
      case Op.fd_allocate:
        await sys.fallocate(int(0), 0, big(1), big(2))
        return ok()
      case Op.fd_fdstat_get:
        return ok(await this.#fdstat(int(0), call.out))
      case Op.fd_fdstat_set_flags:
        return this.#setFlags(int(0), int(1))
      case Op.fd_filestat_get:
        await sys.statx(int(0), '', c.AT_EMPTY_PATH, c.STATX_BASIC_STATS, this.#statx)
        return ok(this.#filestat(call.out))
      case Op.fd_filestat_set_size:
        await sys.ftruncate64(int(0), big(1))
        return ok()
      case Op.fd_filestat_set_times:
        await sys.utimensat_time64(int(0), '', this.#times(big(1), big(2), int(3)), c.AT_EMPTY_PATH)
        return ok()
      case Op.fd_prestat_get: {
        const name = this.#preopen(int(0))
        const view = new DataView(call.out.buffer, call.out.byteOffset, PRESTAT_SIZE)
        view.setUint32(0, PREOPENTYPE_DIR, true)
        view.setUint32(4, name.length, true)
        return ok(PRESTAT_SIZE)
      }
      case Op.fd_prestat_dir_name: {
        const name = this.#preopen(int(0))
        if (int(1) < name.length) throw new WasiFailure(WASI_ERRNO.ENOBUFS)
        call.out.set(name)
        return ok(name.length)
      }
      case Op.fd_readdir:
        return this.#readdir(int(0), big(1), int(2), call)
      case Op.fd_renumber:
        return this.#renumber(int(0), int(1))
      case Op.path_open:
        return result(await this.#open(int(0), int(1), call.data, int(2), big(3), int(4)))
      case Op.path_create_directory:
        await this.#inParent(int(0), call.data, (fd, base) => sys.mkdirat(fd, base, 0o777))
        return ok()
      case Op.path_remove_directory:
        await this.#inParent(int(0), call.data, (fd, base) => sys.unlinkat(fd, base, c.AT_REMOVEDIR))
        return ok()
      case Op.path_unlink_file:
        await this.#inParent(int(0), call.data, (fd, base) => sys.unlinkat(fd, base, 0))
        return ok()
      case Op.path_filestat_get:
        await this.#atTarget(int(0), int(1), call.data, (fd, name, flags) =>
          sys.statx(fd, name, flags, c.STATX_BASIC_STATS, this.#statx))
        return ok(this.#filestat(call.out))
      case Op.path_filestat_set_times: {
        const times = this.#times(big(2), big(3), int(4))
        await this.#atTarget(int(0), int(1), call.data, (fd, name, flags) => sys.utimensat_time64(fd, name, times, flags))
        return ok()
      }
      case Op.path_readlink: {
        const size = Math.min(int(1), DATA_SIZE)
        const n = await this.#inParent(int(0), call.data, (fd, base) => sys.readlinkat(fd, base, call.out.subarray(0, size), size))
        return ok(n)
      }
      case Op.path_rename: {
        const [from, to] = split(call.data, int(1))
        await this.#inParent(int(0), from, (fromFd, fromBase) =>
          this.#inParent(int(2), to, (toFd, toBase) => sys.renameat2(fromFd, fromBase, toFd, toBase, 0)))
        return ok()
      }
      case Op.path_link:
        await this.#link(int(0), int(1), split(call.data, int(2)), int(3))
        return ok()
      case Op.path_symlink: {
        const [target, link] = split(call.data, int(1))
        if (target.includes(0)) throw new WasiFailure(WASI_ERRNO.EINVAL)
        // An absolute target could never resolve under RESOLVE_BENEATH, but the host or another process following
        // it would leave the program's directories: refused, as node:wasi and wasmtime refuse it.
        if (target[0] === SLASH) throw new WasiFailure(WASI_ERRNO.EPERM)
        await this.#inParent(int(0), link, (fd, base) => sys.symlinkat(cString(target), fd, base))
        return ok()
      }
      case Op.clock_time_get:
      case Op.clock_res_get:
        return result(await this.#clock(call.op, int(0)))
      case Op.random_get:
        return ok(await this.#random(call.out.subarray(0, int(0))))
      case Op.sched_yield:
        await sys.sched_yield()
        return ok()
      case Op.poll_oneoff:
        return this.#poll(call)
      case Op.sock_accept:
        return result(await sys.accept4(int(0), null, null, int(1) & FDFLAGS.NONBLOCK ? c.SOCK_NONBLOCK : 0))
      case Op.sock_recv:
        return this.#recv(int(0), int(1), int(2), call)
      case Op.sock_send:
        // MSG_NOSIGNAL: a closed peer is EPIPE for the program, not a signal to its task.
        return result(await sys.sendto(int(0), call.data, call.data.length, c.MSG_NOSIGNAL, null, 0))
      case Op.sock_shutdown: {
        const how = int(1)
        const linuxHow = [-1, c.SHUT_RD, c.SHUT_WR, c.SHUT_RDWR][how]
        if (linuxHow === undefined || linuxHow < 0) throw new WasiFailure(WASI_ERRNO.EINVAL)
        await sys.shutdown(int(0), linuxHow)
        return ok()
      }
      default:
        throw new Error(`WASI bridge: unknown op ${call.op}`)
    }
  }

  #preopen(fd: number): Uint8Array {
    const name = this.#preopens.get(fd)
    if (name === undefined) throw new WasiFailure(WASI_ERRNO.EBADF)
    return name
  }

  async #seek(fd: number, offset: bigint, whence: number): Promise<bigint> {
    if (whence > 2) throw new WasiFailure(WASI_ERRNO.EINVAL)
    const out = new Uint8Array(8)
    // llseek's offset is two 32-bit halves of the signed 64-bit offset.
    await this.#sys.llseek(fd, Number(BigInt.asUintN(32, offset >> 32n)), Number(BigInt.asUintN(32, offset)), out, whence)
    return new DataView(out.buffer).getBigUint64(0, true)
  }

  /** The file type, flags and (derived) rights of fd, as a WASI fdstat in out. */
  async #fdstat(fd: number, out: Uint8Array): Promise<number> {
    const c = this.#c
    const flags = await this.#sys.fcntl64(fd, c.F_GETFL, 0)
    await this.#sys.statx(fd, '', c.AT_EMPTY_PATH, c.STATX_TYPE, this.#statx)
    const type = fileTypeOfMode(new DataView(this.#statx.buffer).getUint16(28, true))
    let base: bigint
    let inheriting = 0n
    if (type === FILETYPE.DIRECTORY) {
      base = DIRECTORY_RIGHTS
      inheriting = ALL_RIGHTS
    } else {
      const mode = flags & c.O_ACCMODE
      base = FILE_RIGHTS | (mode !== c.O_WRONLY ? RIGHTS.FD_READ : 0n) | (mode !== c.O_RDONLY ? WRITE_RIGHTS : 0n)
      // A pipe or a terminal has no position to seek to or tell.
      if (type !== FILETYPE.REGULAR_FILE && type !== FILETYPE.BLOCK_DEVICE) base &= ~(RIGHTS.FD_SEEK | RIGHTS.FD_TELL)
      if (type === FILETYPE.SOCKET_STREAM) base |= RIGHTS.SOCK_ACCEPT | RIGHTS.SOCK_SHUTDOWN
    }
    let fdflags = 0
    if (flags & c.O_APPEND) fdflags |= FDFLAGS.APPEND
    if (flags & c.O_NONBLOCK) fdflags |= FDFLAGS.NONBLOCK
    // O_SYNC includes O_DSYNC's bit: test the full value first.
    if ((flags & c.O_SYNC) === c.O_SYNC) fdflags |= FDFLAGS.SYNC | FDFLAGS.RSYNC
    else if (flags & c.O_DSYNC) fdflags |= FDFLAGS.DSYNC
    const view = new DataView(out.buffer, out.byteOffset, FDSTAT_SIZE)
    view.setUint8(0, type)
    view.setUint16(2, fdflags, true)
    view.setBigUint64(8, base, true)
    view.setBigUint64(16, inheriting, true)
    return FDSTAT_SIZE
  }

  async #setFlags(fd: number, fdflags: number): Promise<Answer> {
    const c = this.#c
    // Linux's F_SETFL changes only O_APPEND and O_NONBLOCK (and ignores the sync flags).
    if (fdflags & (FDFLAGS.DSYNC | FDFLAGS.RSYNC | FDFLAGS.SYNC)) throw new WasiFailure(WASI_ERRNO.ENOTSUP)
    const old = await this.#sys.fcntl64(fd, c.F_GETFL, 0)
    const flags = (old & ~(c.O_APPEND | c.O_NONBLOCK)) | (fdflags & FDFLAGS.APPEND ? c.O_APPEND : 0) |
      (fdflags & FDFLAGS.NONBLOCK ? c.O_NONBLOCK : 0)
    await this.#sys.fcntl64(fd, c.F_SETFL, flags)
    return { errno: 0, length: 0 }
  }

  /** The statx just read, as a WASI filestat in out. */
  #filestat(out: Uint8Array): number {
    const st = new DataView(this.#statx.buffer)
    const time = (at: number): bigint => st.getBigInt64(at, true) * NS + BigInt(st.getUint32(at + 8, true))
    const view = new DataView(out.buffer, out.byteOffset, FILESTAT_SIZE)
    view.setBigUint64(0, (BigInt(st.getUint32(STATX_DEV_MAJOR, true)) << 32n) | BigInt(st.getUint32(STATX_DEV_MINOR, true)), true)
    view.setBigUint64(8, st.getBigUint64(32, true), true) // stx_ino
    view.setBigUint64(16, BigInt(fileTypeOfMode(st.getUint16(28, true))), true) // filetype, then padding
    view.setBigUint64(24, BigInt(st.getUint32(16, true)), true) // stx_nlink
    view.setBigUint64(32, st.getBigUint64(40, true), true) // stx_size
    view.setBigUint64(40, time(64), true) // stx_atime
    view.setBigUint64(48, time(112), true) // stx_mtime
    view.setBigUint64(56, time(96), true) // stx_ctime
    return FILESTAT_SIZE
  }

  /** utimensat's two timespecs from WASI's times and fstflags. */
  #times(atim: bigint, mtim: bigint, fstflags: number): Uint8Array {
    const { UTIME_NOW, UTIME_OMIT } = this.#c
    if ((fstflags & FSTFLAGS.ATIM && fstflags & FSTFLAGS.ATIM_NOW) || (fstflags & FSTFLAGS.MTIM && fstflags & FSTFLAGS.MTIM_NOW)) {
      throw new WasiFailure(WASI_ERRNO.EINVAL)
    }
    const times = new Uint8Array(32)
    const view = new DataView(times.buffer)
    const put = (at: number, time: bigint, set: number, now: number): void => {
      if (fstflags & now) view.setBigInt64(at + 8, BigInt(UTIME_NOW), true)
      else if (fstflags & set) {
        view.setBigInt64(at, time / NS, true)
        view.setBigInt64(at + 8, time % NS, true)
      } else view.setBigInt64(at + 8, BigInt(UTIME_OMIT), true)
    }
    put(0, atim, FSTFLAGS.ATIM, FSTFLAGS.ATIM_NOW)
    put(16, mtim, FSTFLAGS.MTIM, FSTFLAGS.MTIM_NOW)
    return times
  }

  /** openat2 under dirfd with RESOLVE_BENEATH; an escape (EXDEV) is ENOTCAPABLE. */
  async #openBeneath(dirfd: number, path: Uint8Array, flags: number, mode = 0): Promise<number> {
    const how = new DataView(new ArrayBuffer(OPEN_HOW_SIZE))
    how.setBigUint64(0, BigInt(flags), true)
    how.setBigUint64(8, BigInt(mode), true)
    how.setBigUint64(16, BigInt(RESOLVE_BENEATH), true)
    try {
      return await this.#sys.openat2(dirfd, cString(path), new Uint8Array(how.buffer), OPEN_HOW_SIZE)
    } catch (error) {
      if (error instanceof LinuxError && error.code === 'EXDEV') throw new WasiFailure(WASI_ERRNO.ENOTCAPABLE)
      throw error
    }
  }

  async #open(dirfd: number, lookup: number, path: Uint8Array, oflags: number, rights: bigint, fdflags: number): Promise<number> {
    const c = this.#c
    const read = (rights & READ_RIGHTS) !== 0n
    const write = (rights & WRITE_RIGHTS) !== 0n
    let flags = (write ? (read ? c.O_RDWR : c.O_WRONLY) : c.O_RDONLY) | c.O_LARGEFILE
    if (oflags & OFLAGS.CREAT) flags |= c.O_CREAT
    if (oflags & OFLAGS.DIRECTORY) flags |= c.O_DIRECTORY
    if (oflags & OFLAGS.EXCL) flags |= c.O_EXCL
    if (oflags & OFLAGS.TRUNC) flags |= c.O_TRUNC
    if (fdflags & FDFLAGS.APPEND) flags |= c.O_APPEND
    if (fdflags & FDFLAGS.NONBLOCK) flags |= c.O_NONBLOCK
    if (fdflags & (FDFLAGS.SYNC | FDFLAGS.RSYNC)) flags |= c.O_SYNC
    else if (fdflags & FDFLAGS.DSYNC) flags |= c.O_DSYNC
    if (!(lookup & LOOKUP_SYMLINK_FOLLOW)) flags |= c.O_NOFOLLOW
    // openat2 takes a mode only with O_CREAT; the task's umask applies, as for open(2).
    return this.#openBeneath(dirfd, path, flags, flags & c.O_CREAT ? 0o666 : 0)
  }

  /**
   * Run fn on the parent directory of path (resolved beneath dirfd) and its last
   * component. A path of one component uses dirfd itself: a lone name cannot
   * leave it, as these calls do not follow a last symlink ("." and ".." name
   * the directories themselves, which mkdir, unlink, rmdir, rename, link,
   * symlink and readlink all refuse).
   */
  async #inParent<T>(dirfd: number, path: Uint8Array, fn: (fd: number, base: Uint8Array) => Promise<T>): Promise<T> {
    let end = path.length
    while (end > 1 && path[end - 1] === SLASH) end--
    const slash = path.lastIndexOf(SLASH, end - 1)
    if (slash < 0) return fn(dirfd, cString(path))
    if (slash === 0) throw new WasiFailure(WASI_ERRNO.ENOTCAPABLE)
    const parent = await this.#openBeneath(dirfd, path.subarray(0, slash), this.#c.O_PATH | this.#c.O_DIRECTORY)
    try {
      return await fn(parent, cString(path.subarray(slash + 1)))
    } finally {
      await this.#sys.close(parent)
    }
  }

  /**
   * Run fn on the file path names (its last symlink followed if lookup says
   * so), as (fd, name, flags) for an *at call. A lone name not followed is
   * looked up from dirfd directly; anything else is opened O_PATH beneath
   * dirfd and passed as (fd, "", AT_EMPTY_PATH).
   */
  async #atTarget<T>(dirfd: number, lookup: number, path: Uint8Array,
    fn: (fd: number, name: Uint8Array, flags: number) => Promise<T>): Promise<T> {
    const c = this.#c
    const follow = (lookup & LOOKUP_SYMLINK_FOLLOW) !== 0
    if (!follow && path.length > 0 && !path.includes(SLASH) && !isDotDot(path)) {
      return fn(dirfd, cString(path), c.AT_SYMLINK_NOFOLLOW)
    }
    const fd = await this.#openBeneath(dirfd, path, c.O_PATH | (follow ? 0 : c.O_NOFOLLOW))
    try {
      return await fn(fd, EMPTY, c.AT_EMPTY_PATH)
    } finally {
      await this.#sys.close(fd)
    }
  }

  async #link(oldDir: number, lookup: number, [from, to]: [Uint8Array, Uint8Array], newDir: number): Promise<void> {
    const sys = this.#sys
    if (lookup & LOOKUP_SYMLINK_FOLLOW) {
      // Following the source's symlink could reach a file outside: resolve it beneath first, then link that file.
      const source = await this.#openBeneath(oldDir, from, this.#c.O_PATH)
      try {
        await this.#inParent(newDir, to, (fd, base) => sys.linkat(source, EMPTY, fd, base, this.#c.AT_EMPTY_PATH))
      } finally {
        await sys.close(source)
      }
      return
    }
    await this.#inParent(oldDir, from, (fromFd, fromBase) =>
      this.#inParent(newDir, to, (toFd, toBase) => sys.linkat(fromFd, fromBase, toFd, toBase, 0)))
  }

  async #renumber(from: number, to: number): Promise<Answer> {
    const { F_GETFD } = this.#c
    // WASI renumbers onto an open fd only; both must be open.
    await this.#sys.fcntl64(from, F_GETFD, 0)
    await this.#sys.fcntl64(to, F_GETFD, 0)
    if (from !== to) {
      await this.#sys.dup3(from, to, 0)
      await this.#sys.close(from)
      const name = this.#preopens.get(from)
      this.#preopens.delete(from)
      this.#preopens.delete(to)
      if (name !== undefined) this.#preopens.set(to, name)
    }
    return { errno: 0, length: 0 }
  }

  /**
   * WASI dirents from cookie on, whole entries only, at most max bytes; if the
   * first entry alone does not fit, its first max bytes (a program's libc then
   * retries with a bigger buffer). args[0] answers 1 at the end of the directory,
   * args[1] the cookie to go on from.
   */
  async #readdir(fd: number, cookie: bigint, max: number, call: Call): Promise<Answer> {
    const limit = Math.min(max, DATA_SIZE)
    const out = call.out
    const view = new DataView(out.buffer, out.byteOffset, limit)
    await this.#seek(fd, cookie, 0)
    const linux = new Uint8Array(Math.min(DATA_SIZE, Math.max(limit, 1024)))
    const dirents = new DataView(linux.buffer)
    let used = 0
    // args[1] answers the cookie after the last whole entry given: where the next call starts.
    let next = cookie
    for (;;) {
      const n = await this.#sys.getdents64(fd, linux, linux.length)
      if (n === 0) {
        call.args[0] = 1n
        call.args[1] = next
        return { errno: 0, length: used }
      }
      for (let at = 0; at < n;) {
        const reclen = dirents.getUint16(at + 16, true)
        const nameEnd = linux.indexOf(0, at + DIRENT64_NAME)
        const name = linux.subarray(at + DIRENT64_NAME, nameEnd < 0 || nameEnd > at + reclen ? at + reclen : nameEnd)
        const size = DIRENT_HEADER + name.length
        if (used + size > limit) {
          // What did not fit is read again from its cookie by the next call.
          if (used === 0) {
            const whole = new Uint8Array(size)
            writeDirent(new DataView(whole.buffer), 0, dirents, at, name)
            out.set(whole.subarray(0, limit))
            used = limit
          }
          call.args[0] = 0n
          call.args[1] = next
          return { errno: 0, length: used }
        }
        writeDirent(view, used, dirents, at, name)
        used += size
        next = dirents.getBigUint64(at + 8, true)
        at += reclen
      }
    }
  }

  async #clock(op: number, id: number): Promise<bigint> {
    // WASI's four clocks have Linux's numbers: REALTIME, MONOTONIC, PROCESS_CPUTIME_ID, THREAD_CPUTIME_ID.
    if (id > 3) throw new WasiFailure(WASI_ERRNO.EINVAL)
    const ts = new Uint8Array(16)
    if (op === Op.clock_time_get) await this.#sys.clock_gettime64(id, ts)
    else await this.#sys.clock_getres_time64(id, ts)
    const view = new DataView(ts.buffer)
    return view.getBigInt64(0, true) * NS + view.getBigInt64(8, true)
  }

  async #random(into: Uint8Array): Promise<number> {
    // getrandom may return fewer bytes than asked for (large requests): ask again for the rest.
    for (let done = 0; done < into.length;) done += await this.#sys.getrandom(into.subarray(done), into.length - done, 0)
    return into.length
  }

  async #poll(call: Call): Promise<Answer> {
    const c = this.#c
    const count = call.data.length / SUBSCRIPTION_SIZE
    if (count === 0) throw new WasiFailure(WASI_ERRNO.EINVAL)
    const subs = new DataView(call.data.buffer, call.data.byteOffset, call.data.length)
    // The events are written over the subscriptions (one shared data area): keep each one's userdata first.
    const userdata = Array.from({ length: count }, (_, i) => subs.getBigUint64(i * SUBSCRIPTION_SIZE, true))
    const fds: { index: number, fd: number, type: number }[] = []
    const clocks: { index: number, timeout: bigint }[] = []
    for (let i = 0; i < count; i++) {
      const at = i * SUBSCRIPTION_SIZE
      const type = subs.getUint8(at + 8)
      if (type === EVENTTYPE.CLOCK) {
        const id = subs.getUint32(at + 16, true)
        let timeout = subs.getBigUint64(at + 24, true)
        if (subs.getUint16(at + 40, true) & SUBCLOCK_ABSTIME) timeout -= await this.#clock(Op.clock_time_get, id)
        clocks.push({ index: i, timeout: timeout < 0n ? 0n : timeout })
      } else if (type === EVENTTYPE.FD_READ || type === EVENTTYPE.FD_WRITE) {
        fds.push({ index: i, fd: subs.getUint32(at + 16, true), type })
      } else throw new WasiFailure(WASI_ERRNO.EINVAL)
    }
    const pollfds = new Uint8Array(8 * fds.length)
    const pv = new DataView(pollfds.buffer)
    fds.forEach((s, i) => {
      pv.setInt32(8 * i, s.fd, true)
      pv.setInt16(8 * i + 4, s.type === EVENTTYPE.FD_READ ? c.POLLIN : c.POLLOUT, true)
    })
    const first = clocks.reduce<bigint | null>((min, s) => (min === null || s.timeout < min ? s.timeout : min), null)
    let ts: Uint8Array | null = null
    if (first !== null) {
      ts = new Uint8Array(16)
      new DataView(ts.buffer).setBigInt64(0, first / NS, true)
      new DataView(ts.buffer).setBigInt64(8, first % NS, true)
    }
    const ready = await this.#sys.ppoll_time64(fds.length > 0 ? pollfds : null, fds.length, ts, null, 0)
    const out = new DataView(call.out.buffer, call.out.byteOffset, call.out.length)
    let events = 0
    const event = (index: number, type: number, errno: number, flags: number): void => {
      const at = events++ * EVENT_SIZE
      call.out.fill(0, at, at + EVENT_SIZE)
      out.setBigUint64(at, userdata[index] ?? 0n, true)
      out.setUint16(at + 8, errno, true)
      out.setUint8(at + 10, type)
      out.setUint16(at + 24, flags, true)
    }
    if (ready > 0) {
      fds.forEach((s, i) => {
        const revents = pv.getInt16(8 * i + 6, true)
        if (revents === 0) return
        const errno = revents & c.POLLNVAL ? WASI_ERRNO.EBADF : revents & c.POLLERR ? WASI_ERRNO.EIO : 0
        event(s.index, s.type, errno, revents & c.POLLHUP ? EVENT_FD_READWRITE_HANGUP : 0)
      })
    } else {
      // The wait ran out: the clocks due by then fire.
      for (const s of clocks) if (s.timeout <= (first ?? 0n)) event(s.index, EVENTTYPE.CLOCK, 0, 0)
    }
    call.args[0] = BigInt(events)
    return { errno: 0, length: events * EVENT_SIZE }
  }

  async #recv(fd: number, size: number, riflags: number, call: Call): Promise<Answer> {
    const c = this.#c
    const flags = (riflags & RIFLAGS.RECV_PEEK ? c.MSG_PEEK : 0) | (riflags & RIFLAGS.RECV_WAITALL ? c.MSG_WAITALL : 0)
    const want = Math.min(size, DATA_SIZE)
    const n = await this.#sys.recvfrom(fd, call.out.subarray(0, want), want, flags, null, null)
    return { errno: 0, length: n }
  }
}

const SLASH = 0x2f
const EMPTY = new Uint8Array([0])

function isDotDot(path: Uint8Array): boolean {
  return path.length === 2 && path[0] === 0x2e && path[1] === 0x2e
}

/** path as the kernel takes it: NUL-terminated. A NUL inside is refused, not cut short. */
function cString(path: Uint8Array): Uint8Array {
  if (path.includes(0)) throw new WasiFailure(WASI_ERRNO.EINVAL)
  const z = new Uint8Array(path.length + 1)
  z.set(path)
  return z
}

/** Two byte strings sent one after the other, the first firstLength long. */
function split(data: Uint8Array, firstLength: number): [Uint8Array, Uint8Array] {
  return [data.subarray(0, firstLength), data.subarray(firstLength)]
}

/** A WASI dirent header at to, from the linux_dirent64 at from (the name is written by the caller). */
function writeDirent(to: DataView, at: number, from: DataView, src: number, name: Uint8Array): void {
  to.setBigUint64(at, from.getBigUint64(src + 8, true), true) // d_next: the kernel's d_off
  to.setBigUint64(at + 8, from.getBigUint64(src, true), true) // d_ino
  to.setUint32(at + 16, name.length, true)
  to.setUint8(at + 20, fileTypeOfDtype(from.getUint8(src + 18)))
  if (to.byteLength >= at + DIRENT_HEADER + name.length) new Uint8Array(to.buffer, to.byteOffset + at + DIRENT_HEADER, name.length).set(name)
}
