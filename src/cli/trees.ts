// SPDX-License-Identifier: MIT
/**
 * trees.ts - the two places a copy goes between, behind one interface: the host's
 * filesystem (node:fs) and a filesystem inside an image (k.fs, with a few k.sys
 * calls where k.fs falls short). cp walks one Tree and writes into the other, so
 * both directions share one copy of cp's rules (copy.ts); ls and tar walk an
 * ImageTree.
 *
 * Each side does things its own cheapest way: the host's calls are synchronous
 * (see HostTree); an image is read ahead, several files at once (see
 * ImageTree.readAhead), and a file read out of it leaves no pages cached
 * behind it (see ImageTree.openRead); a file's owner, mode and times are set on its open
 * descriptor (one syscall each) rather than by path (three in an image: open
 * O_PATH, the call, close). Times go into an image to the nanosecond
 * (utimensat); onto the host only to the microsecond, which is all Node's
 * utimes keeps.
 *
 * Limits: the host cannot make device nodes, FIFOs or sockets (Node has no
 * mknod): HostTree.mknod fails with ENOTSUP. Paths are strings (UTF-8 names).
 */
import fs, { type BigIntStats as HostBigIntStats } from 'node:fs'
import type { KernelFileHandle, KernelFs } from '../fs/index.js'
import type { BigIntStats as KernelBigIntStats } from '../fs/index.js'
import type { Kernel } from '../kernel.js'
import { imageName } from './operands.js'

export type Kind = 'file' | 'dir' | 'symlink' | 'special'

/** What cp and tar need to know of a file (lstat's fields, as bigint stats give them). */
export interface FileInfo {
  kind: Kind
  /** st_mode: type and permission bits. */
  mode: number
  uid: number
  gid: number
  size: number
  nlink: number
  /** 512-byte blocks, as st_blocks. */
  blocks: number
  dev: bigint
  ino: bigint
  /** The device a node stands for, glibc-encoded (as Node's stat gives it). */
  rdev: bigint
  atimeNs: bigint
  mtimeNs: bigint
}

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

function kindOf(mode: number): Kind {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file'
    case S_IFDIR: return 'dir'
    case S_IFLNK: return 'symlink'
    default: return 'special'
  }
}

function infoOf(st: HostBigIntStats | KernelBigIntStats): FileInfo {
  const mode = Number(st.mode)
  return {
    kind: kindOf(mode), mode, uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), nlink: Number(st.nlink),
    blocks: Number(st.blocks), dev: st.dev, ino: st.ino, rdev: st.rdev, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs,
  }
}

/** The part of a Dirent (Node's or k.fs's) that names its kind. */
interface DirentLike {
  name: string
  isFile(): boolean
  isDirectory(): boolean
  isSymbolicLink(): boolean
}

function direntOf(dirent: DirentLike): DirEntry {
  const kind = dirent.isFile() ? 'file' : dirent.isDirectory() ? 'dir' : dirent.isSymbolicLink() ? 'symlink' : 'special'
  return { name: dirent.name, kind }
}

/** glibc's major() and minor() of an encoded device number. */
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn))
}

export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn))
}

/** An entry of a directory: its name, and its kind as the listing says (no stat needed). */
export interface DirEntry {
  name: string
  kind: Kind
}

/** An open file being read. */
export interface FileSource {
  /** fstat of the open file. */
  stat(): Promise<FileInfo>
  /** Read up to into.length bytes; 0 at the end. */
  read(into: Uint8Array): Promise<number>
  /** A read that returns less than asked has reached the end (k.fs reads loop until full). */
  readonly shortReadEnds: boolean
  close(): Promise<void>
}

/** An open file being written, whose metadata can be set before it is closed. */
export interface FileTarget {
  write(bytes: Uint8Array): Promise<void>
  chown(uid: number, gid: number): Promise<void>
  chmod(mode: number): Promise<void>
  setTimes(atimeNs: bigint, mtimeNs: bigint): Promise<void>
  close(): Promise<void>
}

/** One side of a copy. Paths are absolute on an image, as given on the host. */
export interface Tree {
  /** A path as messages name it. */
  name(path: string): string
  /** The process umask that modes of new files are cut by (cp without -p). */
  readonly umask: number
  /** Whether a failed chown is to be reported (false: an ordinary host user, who may not give files away). */
  readonly mustChown: boolean
  /** How many files a copy may open and start reading ahead of the one it writes (their waits then overlap). */
  readonly readAhead: number
  lstat(path: string): Promise<FileInfo>
  /** stat, following a last symlink. */
  stat(path: string): Promise<FileInfo>
  /** The entries of a directory, sorted bytewise by name. */
  list(path: string): Promise<DirEntry[]>
  readlink(path: string): Promise<string>
  openRead(path: string): Promise<FileSource>
  /** Open for writing: created with mode (less the umask), or truncated. */
  create(path: string, mode: number): Promise<FileTarget>
  mkdir(path: string, mode: number): Promise<void>
  symlink(target: string, path: string): Promise<void>
  /** A device node, FIFO or socket of mode and (glibc-encoded) rdev. */
  mknod(path: string, mode: number, rdev: bigint): Promise<void>
  unlink(path: string): Promise<void>
  /** chown of the path itself (a symlink's own owner). */
  lchown(path: string, uid: number, gid: number): Promise<void>
  chmod(path: string, mode: number): Promise<void>
  /** Times of the path itself (a symlink's own). */
  lsetTimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>
}

/** path/name, with one slash. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`
}

/** The process's umask, read without setting it (process.umask() with no argument is deprecated). */
export function hostUmask(): number {
  try {
    const line = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    if (line?.[1] !== undefined) return Number.parseInt(line[1], 8)
  } catch {
    // No /proc: the usual default.
  }
  return 0o022
}

function seconds(ns: bigint): number {
  // Whole seconds and the fraction apart: one double of ns since 1970 would lose the microseconds.
  const sec = ns / 1_000_000_000n
  return Number(sec) + Number(ns - sec * 1_000_000_000n) / 1e9
}

function notSupported(path: string): Error {
  return Object.assign(new Error(`ENOTSUP: operation not supported, mknod '${path}'`), { code: 'ENOTSUP', syscall: 'mknod', path })
}

/**
 * The host's filesystem, through node:fs's synchronous calls: a copy does one
 * file at a time, and a direct syscall costs microseconds where a trip through
 * libuv's thread pool (fs/promises) costs 0.1 to 1 ms on a busy machine, four or
 * five times per file. The kernel shares this thread, but in a copy it is waiting
 * for this side anyway.
 */
export class HostTree implements Tree {
  readonly umask = hostUmask()
  readonly mustChown = process.getuid?.() === 0
  readonly readAhead = 0

  name(path: string): string {
    return path
  }

  async lstat(path: string): Promise<FileInfo> {
    return infoOf(fs.lstatSync(path, { bigint: true }))
  }

  async stat(path: string): Promise<FileInfo> {
    return infoOf(fs.statSync(path, { bigint: true }))
  }

  async list(path: string): Promise<DirEntry[]> {
    const entries = fs.readdirSync(path, { withFileTypes: true }).map(direntOf)
    return entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
  }

  async readlink(path: string): Promise<string> {
    return fs.readlinkSync(path)
  }

  async openRead(path: string): Promise<FileSource> {
    const fd = fs.openSync(path, 'r')
    return {
      stat: async () => infoOf(fs.fstatSync(fd, { bigint: true })),
      read: async (into) => fs.readSync(fd, into, 0, into.length, null),
      shortReadEnds: false,
      close: async () => fs.closeSync(fd),
    }
  }

  async create(path: string, mode: number): Promise<FileTarget> {
    const fd = fs.openSync(path, 'w', mode)
    return {
      write: async (bytes) => {
        for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done)
      },
      chown: async (uid, gid) => fs.fchownSync(fd, uid, gid),
      chmod: async (mode) => fs.fchmodSync(fd, mode),
      setTimes: async (atimeNs, mtimeNs) => fs.futimesSync(fd, seconds(atimeNs), seconds(mtimeNs)),
      close: async () => fs.closeSync(fd),
    }
  }

  async mkdir(path: string, mode: number): Promise<void> {
    fs.mkdirSync(path, mode)
  }

  async symlink(target: string, path: string): Promise<void> {
    fs.symlinkSync(target, path)
  }

  async mknod(path: string): Promise<void> {
    throw notSupported(path)
  }

  async unlink(path: string): Promise<void> {
    fs.unlinkSync(path)
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    fs.lchownSync(path, uid, gid)
  }

  async chmod(path: string, mode: number): Promise<void> {
    fs.chmodSync(path, mode)
  }

  async lsetTimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    fs.lutimesSync(path, seconds(atimeNs), seconds(mtimeNs))
  }
}

/** Two struct __kernel_timespec (s64 seconds, s64 nanoseconds in [0, 1e9)), as utimensat takes them. */
function timespecs(atimeNs: bigint, mtimeNs: bigint): Uint8Array {
  const bytes = new Uint8Array(32)
  const view = new DataView(bytes.buffer)
  for (const [i, ns] of [atimeNs, mtimeNs].entries()) {
    // Floor division: a time before 1970 has negative seconds and a positive fraction.
    let sec = ns / 1_000_000_000n
    if (sec * 1_000_000_000n > ns) sec -= 1n
    view.setBigInt64(i * 16, sec, true)
    view.setBigInt64(i * 16 + 8, ns - sec * 1_000_000_000n, true)
  }
  return bytes
}

/** The kernel's encoding of a device number (new_encode_dev), from glibc's. */
function kernelDev(rdev: bigint): number {
  const major = devMajor(rdev)
  const minor = devMinor(rdev)
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0
}

/** posix_fadvise's "the cached pages may go" (include/uapi/linux/fadvise.h). */
const POSIX_FADV_DONTNEED = 4
/** Bytes a copy into an image writes between two write-outs (ImageTree.create). */
const WRITE_OUT_BYTES = 8 * 1024 * 1024

/** A filesystem in an image: k.fs rooted at its mount point, and the kernel for what k.fs lacks. */
export class ImageTree implements Tree {
  readonly mustChown = true
  /**
   * Each file read from an image waits on the disk's host I/O at least once
   * (a virtio request); with several files in flight the kernel keeps several
   * requests in flight, and their waits overlap.
   */
  readonly readAhead = 8
  readonly #fs: KernelFs
  readonly #k: Kernel
  /** Bytes written into the image since the last write-out. */
  #unwritten = 0
  /** Where the kernel's procfs is mounted, once a write-out needed it. */
  #proc: Promise<string> | null = null

  /** umask: what the kernel's umask was set to (the host's, so that cp without -p makes the modes cp would). */
  constructor(readonly image: string, fs: KernelFs, kernel: Kernel, readonly umask: number) {
    this.#fs = fs
    this.#k = kernel
  }

  name(path: string): string {
    return imageName(this.image, path)
  }

  async lstat(path: string): Promise<FileInfo> {
    return infoOf(await this.#fs.lstat(path, { bigint: true }))
  }

  async stat(path: string): Promise<FileInfo> {
    return infoOf(await this.#fs.stat(path, { bigint: true }))
  }

  async list(path: string): Promise<DirEntry[]> {
    // k.fs lists in strcmp order already.
    return (await this.#fs.readdir(path, { withFileTypes: true })).map(direntOf)
  }

  readlink(path: string): Promise<string> {
    return this.#fs.readlink(path)
  }

  async openRead(path: string): Promise<FileSource> {
    const file = await this.#fs.open(path, 'r')
    return {
      stat: async () => infoOf(await file.stat({ bigint: true })),
      read: async (into) => (await file.read(into, 0, into.length, null)).bytesRead,
      shortReadEnds: true,
      close: async () => {
        // A file is read once: its clean pages go back to the kernel's free lists, and the next
        // file's read-ahead reuses them. Fresh kernel pages are memory the host has never
        // touched, and its first touch (a page fault) costs about 35 µs a page here, a third of
        // the time of a tree read out of an image; a reused page costs nothing. Advice only.
        await this.#k.sys.fadvise64_64(file.fd, 0, 0, POSIX_FADV_DONTNEED).catch(() => 0)
        await file.close()
      },
    }
  }

  async create(path: string, mode: number): Promise<FileTarget> {
    const C = this.#fs.constants
    const file = await this.#fs.open(path, C.O_WRONLY | C.O_CREAT | C.O_TRUNC, mode)
    return {
      write: async (bytes) => {
        await file.write(bytes, 0, bytes.length, null)
        this.#unwritten += bytes.length
        if (this.#unwritten >= WRITE_OUT_BYTES) await this.#writeOut()
      },
      chown: (uid, gid) => file.chown(uid, gid),
      chmod: (mode) => file.chmod(mode),
      // A NULL path: utimensat on the descriptor itself, to the nanosecond (k.fs's utimes keeps microseconds, as Node's does).
      setTimes: async (atimeNs, mtimeNs) => {
        await this.#k.sys.utimensat_time64(file.fd, null, timespecs(atimeNs, mtimeNs), 0)
      },
      close: () => file.close(),
    }
  }

  async mkdir(path: string, mode: number): Promise<void> {
    await this.#fs.mkdir(path, mode)
  }

  symlink(target: string, path: string): Promise<void> {
    return this.#fs.symlink(target, path)
  }

  async mknod(path: string, mode: number, rdev: bigint): Promise<void> {
    const slash = path.lastIndexOf('/')
    const parent = path.slice(0, slash + 1) || '.'
    const name = path.slice(slash + 1)
    // k.fs has no mknod: make it at a descriptor of the parent, opened under the image's root as k.fs opens.
    await this.#at(parent, this.#k.constants.O_DIRECTORY, (dir) => this.#k.sys.mknodat(dir.fd, name, mode, kernelDev(rdev)))
  }

  unlink(path: string): Promise<void> {
    return this.#fs.unlink(path)
  }

  lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.#fs.lchown(path, uid, gid)
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.#fs.chmod(path, mode)
  }

  async lsetTimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const C = this.#k.constants
    await this.#at(path, C.O_NOFOLLOW, (file) => this.#k.sys.utimensat_time64(file.fd, '', timespecs(atimeNs, mtimeNs), C.AT_EMPTY_PATH))
  }

  /**
   * Write what the copy has written so far out to the image, and let the kernel's
   * clean cached pages go (drop_caches; the image tools' kernel serves only this
   * copy), so that the next files reuse them. As for reads (openRead), fresh
   * kernel pages are what costs: the host's first touch of each; a copy of a
   * 40 MiB tree took a quarter less time writing out every 8 MiB. Writing out
   * each file on its own instead took longer than the pages it saved.
   */
  async #writeOut(): Promise<void> {
    this.#unwritten = 0
    this.#proc ??= this.#k.mountFs('proc', { target: '/.uklkl-proc' })
    await this.#k.sys.sync()
    await this.#k.fs.writeFile(`${await this.#proc}/sys/vm/drop_caches`, '1')
  }

  /** fn on an O_PATH descriptor of path (with extra open flags), closed after. */
  async #at<T>(path: string, flags: number, fn: (file: KernelFileHandle) => Promise<T>): Promise<T> {
    const file = await this.#fs.open(path, this.#k.constants.O_PATH | flags)
    try {
      return await fn(file)
    } finally {
      await file.close()
    }
  }
}
