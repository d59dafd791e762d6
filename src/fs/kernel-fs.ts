// SPDX-License-Identifier: MIT
/**
 * fs/kernel-fs.ts - KernelFs: the functions of node:fs/promises over the
 * kernel's VFS, with Node's arguments, results and errors.
 *
 * Each function makes the syscalls Node (libuv) would make on Linux, in the same
 * order, so results and errors match a Node call on a host directory; the
 * differential test of test/kernel/fs.test.ts holds them side by side. Where
 * Node's promises API does more than one syscall (readFile, writeFile, truncate,
 * copyFile, mkdir -p, rm -r), the error names the syscall Node names.
 *
 * Paths are strings (no Buffer or URL), resolved under the root (see context.ts).
 * Limits: no watch, opendir, realpath, readv/writev, streams or AbortSignal;
 * names are strings (readdir has no 'buffer' encoding, only readlink does);
 * readdir has no recursive option; copyFile copies data
 * (sendfile in the kernel) and never clones, so COPYFILE_FICLONE_FORCE fails with
 * ENOTSUP.
 */
import { LinuxError } from '../errors.js'
import type { Kernel } from '../kernel.js'
import { FsContext, type InodeRef } from './context.js'
import { FsError, namingPath, nodeReadFileNamesPath, rmIsDirectoryError } from './errors.js'
import { type Mode, type OpenFlags, type TimeLike, parseFlags, parseMode, timespecPair, toSeconds } from './flags.js'
import {
  KernelFileHandle, type ReadFileOptions, type StatOptions, type WriteFileOptions, toBytes,
} from './handle.js'
import { type BigIntStats, DT_UNKNOWN, Dirent, type Stats, decodeStatx, direntType } from './stats.js'

export interface MakeDirectoryOptions {
  /** Create missing parents too; resolves with the first directory created. */
  recursive?: boolean
  /** 0o777 by default (less the umask). */
  mode?: Mode
}

export interface RmOptions {
  /** Remove directories and everything in them. */
  recursive?: boolean
  /** No error when the path does not exist. */
  force?: boolean
}

export interface ReaddirOptions {
  /** Dirents instead of names. */
  withFileTypes?: boolean
  /** Names are UTF-8 (the only encoding k.fs lists with). */
  encoding?: 'utf8' | 'utf-8' | null
}

/** Constants of node:fs for k.fs: access modes and copyFile flags (Node's), file types and open flags (the kernel's). */
export interface KernelFsConstants {
  readonly F_OK: 0
  readonly R_OK: 4
  readonly W_OK: 2
  readonly X_OK: 1
  readonly COPYFILE_EXCL: 1
  readonly COPYFILE_FICLONE: 2
  readonly COPYFILE_FICLONE_FORCE: 4
  readonly O_RDONLY: number
  readonly O_WRONLY: number
  readonly O_RDWR: number
  readonly O_CREAT: number
  readonly O_EXCL: number
  readonly O_TRUNC: number
  readonly O_APPEND: number
  readonly O_DIRECTORY: number
  readonly O_NOFOLLOW: number
  readonly O_SYNC: number
  readonly O_DSYNC: number
  readonly S_IFMT: number
  readonly S_IFREG: number
  readonly S_IFDIR: number
  readonly S_IFLNK: number
}

type PathOrHandle = string | KernelFileHandle

/** Bytes of the getdents64 buffer of a listing. */
const LIST_BUFFER = 32 * 1024
/** Bytes of a readlink buffer: PATH_MAX, the longest target a symlink holds. */
const PATH_MAX = 4096
/** Bytes one sendfile may move: a bound on how long copyFile holds the kernel's one CPU per call. */
const SENDFILE_CHUNK = 8 * 1024 * 1024
/** Offsets in struct linux_dirent64 (include/linux/dirent.h): d_reclen, d_type, d_name. */
const DIRENT_RECLEN = 16
const DIRENT_TYPE = 18
const DIRENT_NAME = 19

interface Entry {
  name: string
  /** The name's bytes, which fix the order Node lists in (libuv sorts with strcmp). */
  bytes: Buffer
  type: number
}

const decoder = new TextDecoder()

function isCode(error: unknown, code: string): boolean {
  return error instanceof FsError && error.code === code
}

/** Node's fs/promises over a kernel's VFS; from kernelFs(k). */
export class KernelFs {
  readonly constants: KernelFsConstants
  readonly #ctx: FsContext

  /** Use kernelFs(k, options). */
  constructor(k: Kernel, root: string) {
    this.#ctx = new FsContext(k, root)
    const C = k.constants
    this.constants = Object.freeze({
      F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, COPYFILE_EXCL: 1, COPYFILE_FICLONE: 2, COPYFILE_FICLONE_FORCE: 4,
      O_RDONLY: C.O_RDONLY, O_WRONLY: C.O_WRONLY, O_RDWR: C.O_RDWR, O_CREAT: C.O_CREAT, O_EXCL: C.O_EXCL,
      O_TRUNC: C.O_TRUNC, O_APPEND: C.O_APPEND, O_DIRECTORY: C.O_DIRECTORY, O_NOFOLLOW: C.O_NOFOLLOW,
      O_SYNC: C.O_SYNC, O_DSYNC: C.O_DSYNC, S_IFMT: C.S_IFMT, S_IFREG: C.S_IFREG, S_IFDIR: C.S_IFDIR, S_IFLNK: C.S_IFLNK,
    } as const)
  }

  // ---- whole files ------------------------------------------------------------------

  readFile(path: PathOrHandle, options?: { encoding?: null, flag?: OpenFlags } | null): Promise<Buffer>
  readFile(path: PathOrHandle, options: { encoding: BufferEncoding, flag?: OpenFlags } | BufferEncoding): Promise<string>
  readFile(path: PathOrHandle, options?: ReadFileOptions | BufferEncoding | null): Promise<Buffer | string>
  async readFile(path: PathOrHandle, options?: ReadFileOptions | BufferEncoding | null): Promise<Buffer | string> {
    const { encoding, flag } = typeof options === 'string' ? { encoding: options, flag: undefined } : options ?? {}
    let data: Buffer
    if (path instanceof KernelFileHandle) {
      data = await path.readFile()
    } else {
      const fd = await this.#open('open', path, parseFlags(flag, 'r', this.#ctx.C), 0o666)
      data = await this.#closing(fd, () => this.#ctx.readRest(fd)).catch(async (error: unknown) => {
        throw error instanceof FsError && error.syscall === 'read' && error.path === undefined && await nodeReadFileNamesPath()
          ? namingPath(error, path) : error
      })
    }
    return encoding === null || encoding === undefined ? data : data.toString(encoding)
  }

  writeFile(path: PathOrHandle, data: string | Uint8Array, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    return this.#writeWhole(path, data, options, 'w')
  }

  appendFile(path: PathOrHandle, data: string | Uint8Array, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    return this.#writeWhole(path, data, options, 'a')
  }

  async #writeWhole(
    path: PathOrHandle, data: string | Uint8Array, options: WriteFileOptions | BufferEncoding | null | undefined, defaultFlag: string,
  ): Promise<void> {
    const { encoding, mode, flag } = typeof options === 'string' ? { encoding: options, mode: undefined, flag: undefined } : options ?? {}
    const bytes = toBytes(data, encoding)
    if (path instanceof KernelFileHandle) return path.writeFile(bytes)
    const fd = await this.#open('open', path, parseFlags(flag, defaultFlag, this.#ctx.C), parseMode(mode, 0o666))
    await this.#closing(fd, () => this.#ctx.errors.call('write', undefined, () => this.#ctx.writeFrom(fd, bytes, null)))
  }

  /** Node's filehandle: flags 'r' and mode 0o666 by default. */
  async open(path: string, flags?: OpenFlags, mode?: Mode): Promise<KernelFileHandle> {
    const fd = await this.#open('open', path, parseFlags(flags, 'r', this.#ctx.C), parseMode(mode, 0o666))
    return new KernelFileHandle(this.#ctx, fd)
  }

  async truncate(path: string, len: number | bigint = 0): Promise<void> {
    // As Node does it: open for reading and writing, then ftruncate.
    const fd = await this.#open('open', path, this.#ctx.C.O_RDWR, 0)
    await this.#closing(fd, () => this.#ctx.errors.call('ftruncate', undefined, () => this.#ctx.sys.ftruncate64(fd, len)))
  }

  async copyFile(src: string, dest: string, mode = 0): Promise<void> {
    const { sys, C, errors } = this.#ctx
    const copying = <T>(fn: () => Promise<T>): Promise<T> => errors.call('copyfile', src, fn, dest)
    if ((mode & this.constants.COPYFILE_FICLONE_FORCE) !== 0) {
      throw errors.fromErrno(C.EOPNOTSUPP, 'EOPNOTSUPP', 'copyfile', src, dest)
    }
    // libuv's uv_fs_copyfile, step by step: its errors, and its removal of dest when a step after creating it fails.
    const input = await copying(() => this.#ctx.open(src, C.O_RDONLY | C.O_CLOEXEC, 0))
    try {
      const source = decodeStatx(await copying(() => this.#ctx.statx(input, '', C.AT_EMPTY_PATH)))
      const excl = (mode & this.constants.COPYFILE_EXCL) !== 0 ? C.O_EXCL : 0
      const output = await copying(() => this.#ctx.open(dest, C.O_WRONLY | C.O_CREAT | C.O_CLOEXEC | excl, source.mode))
      try {
        await copying(async () => {
          const target = decodeStatx(await this.#ctx.statx(output, '', C.AT_EMPTY_PATH))
          // The same file: copying it onto itself would truncate it first.
          if (target.dev === source.dev && target.ino === source.ino) return
          await sys.ftruncate64(output, 0)
          await sys.fchmod(output, source.mode)
          await this.#copyData(input, output)
        })
      } catch (error) {
        await sys.close(output).catch(() => 0)
        await this.#ctx.entry(dest, (dirfd, name) => sys.unlinkat(dirfd, name, 0)).catch(() => 0)
        throw error
      }
      await copying(() => sys.close(output))
    } finally {
      await sys.close(input).catch(() => 0)
    }
  }

  /** input's data onto output: sendfile inside the kernel, or (where it cannot) reads and writes, as libuv does. */
  async #copyData(input: number, output: number): Promise<void> {
    const { sys, C } = this.#ctx
    for (;;) {
      let moved: number
      try {
        moved = await sys.sendfile64(output, input, null, SENDFILE_CHUNK)
      } catch (error) {
        // sendfile refuses files without splice support (EINVAL; a directory, too): copy through reads,
        // which give a directory its EISDIR.
        if (!(error instanceof LinuxError && error.errno === C.EINVAL)) throw error
        const buffer = new Uint8Array(this.#ctx.chunk)
        for (;;) {
          const got = await this.#ctx.readInto(input, buffer, null)
          if (got === 0) return
          await this.#ctx.writeFrom(output, buffer.subarray(0, got), null)
          if (got < buffer.length) return
        }
      }
      if (moved === 0) return
    }
  }

  // ---- directories ------------------------------------------------------------------

  mkdir(path: string, options: MakeDirectoryOptions & { recursive: true }): Promise<string | undefined>
  mkdir(path: string, options?: Mode | (MakeDirectoryOptions & { recursive?: false }) | null): Promise<undefined>
  mkdir(path: string, options?: Mode | MakeDirectoryOptions | null): Promise<string | undefined>
  async mkdir(path: string, options?: Mode | MakeDirectoryOptions | null): Promise<string | undefined> {
    const { recursive, mode } = typeof options === 'object' && options !== null ? options : { recursive: false, mode: options ?? undefined }
    const bits = parseMode(mode, 0o777)
    if (recursive === true) return this.#mkdirp(path, bits)
    await this.#ctx.errors.call('mkdir', path, () => this.#ctx.entry(path, (dirfd, name) => this.#ctx.sys.mkdirat(dirfd, name, bits)))
    return undefined
  }

  /**
   * Node's MKDirpAsync (src/node_file.cc): a stack of paths to make, parents
   * pushed on ENOENT by cutting at the last '/', a stat for anything else; the
   * first path made is the answer, spelled as it was cut. An error names the path
   * of the step that failed (not the whole path), as Node's does; a step that
   * finds something other than a directory where parents remain to make is
   * ENOTDIR.
   */
  async #mkdirp(path: string, mode: number): Promise<string | undefined> {
    const { sys, C, errors } = this.#ctx
    const stack = [path]
    let first: string | undefined
    for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
      const made = next
      const fail = (errno: number, name: string): FsError => errors.fromErrno(errno, name, 'mkdir', made)
      let errno: number
      try {
        await this.#ctx.entry(made, (dirfd, name) => sys.mkdirat(dirfd, name, mode))
        first ??= made
        continue
      } catch (error) {
        if (!(error instanceof LinuxError)) throw error
        errno = error.errno
        if ([C.EACCES, C.ENOSPC, C.ENOTDIR, C.EPERM].includes(errno)) throw fail(errno, error.code)
        const slash = made.lastIndexOf('/')
        // '/x' has no parent to make ('' is no directory): like a path without a slash, it is EEXIST's case.
        if (errno === C.ENOENT && slash > 0) {
          stack.push(made, made.slice(0, slash))
          continue
        }
        if (errno === C.ENOENT && stack.length > 0) continue
        if (errno === C.ENOENT) errno = C.EEXIST
      }
      let isDirectory = false
      let statError: LinuxError | null = null
      try {
        const stat = decodeStatx(await this.#ctx.inode(made, true, (ref) => this.#ctx.statx(ref.dirfd, ref.path, ref.atFlags)))
        isDirectory = (stat.mode & C.S_IFMT) === C.S_IFDIR
      } catch (error) {
        if (!(error instanceof LinuxError)) throw error
        statError = error
      }
      if (isDirectory) continue
      if (errno === C.EEXIST && stack.length > 0) throw fail(C.ENOTDIR, 'ENOTDIR')
      if (statError !== null) throw fail(statError.errno, statError.code)
      throw fail(C.EEXIST, 'EEXIST')
    }
    return first
  }

  readdir(path: string, options?: (ReaddirOptions & { withFileTypes?: false }) | BufferEncoding | null): Promise<string[]>
  readdir(path: string, options: ReaddirOptions & { withFileTypes: true }): Promise<Dirent[]>
  readdir(path: string, options?: ReaddirOptions | BufferEncoding | null): Promise<string[] | Dirent[]>
  async readdir(path: string, options?: ReaddirOptions | BufferEncoding | null): Promise<string[] | Dirent[]> {
    const { C, errors } = this.#ctx
    const withTypes = typeof options === 'object' && options?.withFileTypes === true
    const fd = await this.#open('scandir', path, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC, 0)
    return this.#closing(fd, () => errors.call('scandir', path, async () => {
      const entries = await this.#list(fd)
      if (!withTypes) return entries.map((e) => e.name)
      const dirents: Dirent[] = []
      for (const entry of entries) {
        // Some filesystems leave d_type unknown: Node then asks lstat.
        const type = entry.type !== DT_UNKNOWN ? entry.type
          : direntType(decodeStatx(await this.#ctx.statx(fd, entry.name, C.AT_SYMLINK_NOFOLLOW)).mode)
        dirents.push(new Dirent(entry.name, path, type))
      }
      return dirents
    }))
  }

  /** The entries of the directory at path, as readdir lists them; errors name syscall. */
  async #listAt(syscall: string, path: string): Promise<Entry[]> {
    const { C, errors } = this.#ctx
    const fd = await this.#open(syscall, path, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC, 0)
    return this.#closing(fd, () => errors.call(syscall, path, () => this.#list(fd)))
  }

  /** The entries of the directory open at fd, without . and .., in Node's order (libuv sorts with strcmp); throws LinuxError. */
  async #list(fd: number): Promise<Entry[]> {
    const entries: Entry[] = []
    const buffer = Buffer.alloc(LIST_BUFFER)
    for (;;) {
      const n = await this.#ctx.staged(LIST_BUFFER, () => this.#ctx.sys.getdents64(fd, buffer, LIST_BUFFER))
      if (n === 0) return entries.sort((a, b) => Buffer.compare(a.bytes, b.bytes))
      for (let at = 0; at < n;) {
        const reclen = buffer.readUInt16LE(at + DIRENT_RECLEN)
        const end = buffer.indexOf(0, at + DIRENT_NAME)
        const bytes = Buffer.from(buffer.subarray(at + DIRENT_NAME, end < 0 || end > at + reclen ? at + reclen : end))
        const name = decoder.decode(bytes)
        if (name !== '.' && name !== '..') entries.push({ name, bytes, type: buffer[at + DIRENT_TYPE] ?? DT_UNKNOWN })
        at += reclen
      }
    }
  }

  async rmdir(path: string): Promise<void> {
    const { sys, C } = this.#ctx
    await this.#ctx.errors.call('rmdir', path, () => this.#ctx.entry(path, (dirfd, name) => sys.unlinkat(dirfd, name, C.AT_REMOVEDIR)))
  }

  /**
   * Node's rm (lib/internal/fs/rimraf.js, as Node 20 runs it): lstat first (its
   * errors name lstat; with force, a path that does not exist is no error), a
   * directory only with recursive (else Node's ERR_FS_EISDIR), then rimraf:
   * unlink a file, rmdir a directory, and only when that says ENOTEMPTY remove
   * its entries one by one (each as a path of its own) and rmdir again. Anything
   * gone meanwhile (ENOENT) is no error.
   */
  async rm(path: string, options: RmOptions = {}): Promise<void> {
    let stats: Stats
    try {
      stats = await this.lstat(path)
    } catch (error) {
      if (options.force === true && isCode(error, 'ENOENT')) return
      throw error
    }
    if (stats.isDirectory() && options.recursive !== true) throw rmIsDirectoryError(path, this.#ctx.C.EISDIR)
    await this.#rimraf(path, stats.isDirectory())
  }

  async #rimraf(path: string, isDirectory: boolean): Promise<void> {
    if (isDirectory) return this.#rimrafDirectory(path, null)
    try {
      await this.unlink(path)
    } catch (error) {
      if (isCode(error, 'ENOENT')) return
      // Where unlink refuses, rimraf tries the path as a directory (and reports unlink's error if it is none).
      if (isCode(error, 'EISDIR') || isCode(error, 'EPERM')) return this.#rimrafDirectory(path, error)
      throw error
    }
  }

  async #rimrafDirectory(path: string, unlinkError: unknown): Promise<void> {
    try {
      await this.rmdir(path)
      return
    } catch (error) {
      if (isCode(error, 'ENOENT')) return
      // rmdir of a symlink to a directory ('l/') says ENOTDIR: rimraf leaves it, with no error of its own.
      if (isCode(error, 'ENOTDIR')) {
        if (unlinkError !== null) throw unlinkError
        return
      }
      if (!(isCode(error, 'ENOTEMPTY') || isCode(error, 'EEXIST') || isCode(error, 'EPERM'))) throw error
    }
    let entries: Entry[]
    try {
      entries = await this.#listAt('scandir', path)
    } catch (error) {
      if (isCode(error, 'ENOENT')) return
      throw error
    }
    for (const entry of entries) {
      // rimraf joins with one '/', even after a trailing one.
      const child = `${path}/${entry.name}`
      const type = entry.type !== DT_UNKNOWN ? entry.type : await this.lstat(child).then((st) => direntType(st.mode), () => DT_UNKNOWN)
      await this.#rimraf(child, type === direntType(this.#ctx.C.S_IFDIR))
    }
    await this.#ignoreMissing(this.rmdir(path))
  }

  /** Node's rm removes what is there: something gone meanwhile is no error. */
  async #ignoreMissing(removal: Promise<void>): Promise<void> {
    try {
      await removal
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error
    }
  }

  // ---- entries and inodes -------------------------------------------------------------

  stat(path: string, options?: StatOptions & { bigint?: false }): Promise<Stats>
  stat(path: string, options: StatOptions & { bigint: true }): Promise<BigIntStats>
  stat(path: string, options?: StatOptions): Promise<Stats | BigIntStats>
  stat(path: string, options?: StatOptions): Promise<Stats | BigIntStats> {
    return this.#stat('stat', path, true, options)
  }

  lstat(path: string, options?: StatOptions & { bigint?: false }): Promise<Stats>
  lstat(path: string, options: StatOptions & { bigint: true }): Promise<BigIntStats>
  lstat(path: string, options?: StatOptions): Promise<Stats | BigIntStats>
  lstat(path: string, options?: StatOptions): Promise<Stats | BigIntStats> {
    return this.#stat('lstat', path, false, options)
  }

  async #stat(syscall: string, path: string, follow: boolean, options?: StatOptions): Promise<Stats | BigIntStats> {
    const raw = await this.#inode(syscall, path, follow, (ref) => this.#ctx.statx(ref.dirfd, ref.path, ref.atFlags))
    return FsContext.stats(raw, options?.bigint)
  }

  async rename(oldPath: string, newPath: string): Promise<void> {
    const { sys, errors } = this.#ctx
    await errors.call('rename', oldPath, () => this.#ctx.entry(oldPath, (oldDir, oldName) =>
      this.#ctx.entry(newPath, (newDir, newName) => sys.renameat2(oldDir, oldName, newDir, newName, 0))), newPath)
  }

  async unlink(path: string): Promise<void> {
    await this.#ctx.errors.call('unlink', path, () => this.#ctx.entry(path, (dirfd, name) => this.#ctx.sys.unlinkat(dirfd, name, 0)))
  }

  async link(existingPath: string, newPath: string): Promise<void> {
    const { sys, C, errors } = this.#ctx
    await errors.call('link', existingPath, () => this.#ctx.inode(existingPath, false, (ref) =>
      // linkat takes AT_EMPTY_PATH (for the root's O_PATH descriptor) but not AT_SYMLINK_NOFOLLOW, its default.
      this.#ctx.entry(newPath, (dirfd, name) => sys.linkat(ref.dirfd, ref.path, dirfd, name, ref.atFlags & C.AT_EMPTY_PATH))), newPath)
  }

  /** A symlink at path to target; type (Windows' 'file', 'dir', 'junction') means nothing on Linux. */
  async symlink(target: string, path: string, _type?: string | null): Promise<void> {
    if (target.includes('\0')) throw new TypeError(`a symlink target must not contain a NUL byte: ${JSON.stringify(target)}`)
    await this.#ctx.errors.call('symlink', target, () => this.#ctx.entry(path, (dirfd, name) => this.#ctx.sys.symlinkat(target, dirfd, name)), path)
  }

  /** The target of the symlink at path: a string (UTF-8, or another encoding), or a Buffer with encoding 'buffer'. */
  readlink(path: string, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<string>
  readlink(path: string, options: { encoding: 'buffer' } | 'buffer'): Promise<Buffer>
  async readlink(path: string, options?: { encoding?: BufferEncoding | 'buffer' | null } | BufferEncoding | 'buffer' | null): Promise<string | Buffer> {
    const encoding = (typeof options === 'string' ? options : options?.encoding) ?? 'utf8'
    const { sys, C } = this.#ctx
    const buffer = new Uint8Array(PATH_MAX)
    const n = await this.#inode('readlink', path, false, async (ref) => {
      try {
        return await sys.readlinkat(ref.dirfd, ref.path, buffer, PATH_MAX)
      } catch (error) {
        // On an O_PATH descriptor (another root) the kernel says ENOENT for "not a symlink", where a path gets EINVAL.
        if (ref.atFlags === C.AT_EMPTY_PATH && error instanceof LinuxError && error.errno === C.ENOENT) {
          throw this.#ctx.errors.fromErrno(C.EINVAL, 'EINVAL', 'readlink', path)
        }
        throw error
      }
    })
    const target = Buffer.from(buffer.subarray(0, n))
    return encoding === 'buffer' ? target : target.toString(encoding)
  }

  async chmod(path: string, mode: Mode): Promise<void> {
    const bits = parseMode(mode, 0)
    await this.#inode('chmod', path, true, (ref) => this.#ctx.sys.fchmodat2(ref.dirfd, ref.path, bits, ref.atFlags))
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.#inode('chown', path, true, (ref) => this.#ctx.sys.fchownat(ref.dirfd, ref.path, uid, gid, ref.atFlags))
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    await this.#inode('lchown', path, false, (ref) => this.#ctx.sys.fchownat(ref.dirfd, ref.path, uid, gid, ref.atFlags))
  }

  /** Set the access and modification times: Dates, or seconds since the epoch. */
  async utimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void> {
    const times = timespecPair(toSeconds(atime, 'atime'), toSeconds(mtime, 'mtime'))
    await this.#inode('utime', path, true, (ref) => this.#ctx.sys.utimensat_time64(ref.dirfd, ref.path, times, ref.atFlags))
  }

  /** utimes of a symlink itself. */
  async lutimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void> {
    const times = timespecPair(toSeconds(atime, 'atime'), toSeconds(mtime, 'mtime'))
    await this.#inode('lutime', path, false, (ref) => this.#ctx.sys.utimensat_time64(ref.dirfd, ref.path, times, ref.atFlags))
  }

  /** Whether the caller (the kernel's root) may access path: F_OK (the default), or R_OK | W_OK | X_OK. */
  async access(path: string, mode: number = this.constants.F_OK): Promise<void> {
    await this.#inode('access', path, true, (ref) => this.#ctx.sys.faccessat2(ref.dirfd, ref.path, mode, ref.atFlags))
  }

  /** Release what this k.fs holds in the kernel (the root's descriptor); later calls on another root reject. */
  close(): Promise<void> {
    return this.#ctx.close()
  }

  // ---- helpers --------------------------------------------------------------------------

  #open(syscall: string, path: string, flags: number, mode: number): Promise<number> {
    return this.#ctx.errors.call(syscall, path, () => this.#ctx.open(path, flags, mode))
  }

  async #inode<T>(syscall: string, path: string, follow: boolean, fn: (ref: InodeRef) => Promise<T>): Promise<T> {
    return this.#ctx.errors.call(syscall, path, () => this.#ctx.inode(path, follow, fn))
  }

  /** fn's result, then fd closed; a close error counts only when fn succeeded. */
  async #closing<T>(fd: number, fn: () => Promise<T>): Promise<T> {
    let result: T
    try {
      result = await fn()
    } catch (error) {
      await this.#ctx.sys.close(fd).catch(() => 0)
      throw error
    }
    await this.#ctx.errors.call('close', undefined, () => this.#ctx.sys.close(fd))
    return result
  }
}
