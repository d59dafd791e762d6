// SPDX-License-Identifier: MIT
/**
 * fs-differential.ts - differential testing of the kernel's filesystem syscalls
 * against the host's Linux: one sequence of operations runs through Node's fs
 * (sync API, on fds) in a host directory and through k.sys in a kernel directory,
 * and the two outcomes of each step (result or errno) must be equal. Used by
 * test/kernel/differential.test.ts, with fast-check generating (and shrinking)
 * the sequences.
 *
 * Operations: open (access mode and any of O_CREAT, O_EXCL, O_TRUNC, O_APPEND,
 * O_DIRECTORY, O_NOFOLLOW), close, read, write, pread, pwrite, lseek, ftruncate,
 * fstat, stat, lstat, chmod, fchmod, rename, link, symlink, readlink, unlink,
 * mkdir, rmdir and a directory listing (getdents64 on the kernel side). Paths come
 * from a small set of names, relative to each side's root, so that they collide:
 * most errors (ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, ELOOP, EINVAL ...)
 * come up on their own.
 *
 * What is compared, and what is not (with why):
 * - errno, by number (Node's err.errno is -errno; LinuxError.errno is errno).
 * - stat: file type, permission bits, link count, and size for everything but
 *   directories. A directory's size is the filesystem's own accounting (tmpfs
 *   counts entries, ext4 blocks): compared only when both sides are tmpfs.
 *   Inode numbers, device ids, times, uid/gid and block counts are each side's
 *   own (different filesystems, clocks and users), so they are not compared.
 * - listings: names with their types, sorted (each filesystem has its own order).
 * - lseek: Node's fs has no lseek. The host side keeps each fd's offset itself
 *   and does all its I/O with pread/pwrite at that offset (which is what read and
 *   write do; with O_APPEND, Linux's pwrite appends like write); SEEK_END takes the
 *   size from fstat. The kernel side uses its real read, write and llseek, so the
 *   comparison checks the kernel's file offsets against that model. lseek is only
 *   made on regular files (each side checks with its own fstat).
 * - Excluded inputs: O_CREAT with O_DIRECTORY (its result changed in Linux 6.4, and
 *   the host may run another version); absolute symlink targets (the roots differ),
 *   and targets with more than one "..", which would leave both roots' parents;
 *   modes without the owner's rwx bits and special bits (as a non-root host user,
 *   permission checks and setgid clearing would differ from the kernel's root);
 *   reads of 0 bytes (Node's readSync returns 0 for them without a syscall).
 * - The kernel's umask is set to the host process's, read from /proc/self/status.
 */
import {
  closeSync, constants as fsConstants, fchmodSync, fstatSync, ftruncateSync, linkSync, lstatSync, mkdirSync, mkdtempSync,
  openSync, readFileSync, readSync, readdirSync, readlinkSync, renameSync, rmSync, rmdirSync, statSync, statfsSync, symlinkSync,
  unlinkSync, chmodSync, existsSync, writeSync, type Stats,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { type Kernel, LinuxError } from '../../src/index.js'

/** Names the operations pick from; nested, and some through files, so that errors arise. */
export const PATHS = ['.', 'a', 'b', 'c', 'd', 'd/e', 'd/f', 'd/g', 'd/g/h', 'a/x', 'd/', 'a/', 'l', 'd/l', 'm'] as const
/** Symlink targets: relative, at most one "..". */
export const LINK_TARGETS = ['a', 'b', 'd', 'd/e', '../a', 'e', 'nowhere', 'l', 'm', '.', 'g/h'] as const
export const OPEN_FLAGS = ['CREAT', 'EXCL', 'TRUNC', 'APPEND', 'DIRECTORY', 'NOFOLLOW'] as const
export type OpenFlag = typeof OPEN_FLAGS[number]
type FsPath = typeof PATHS[number]

export type FsOp =
  | { op: 'open', path: FsPath, access: 'RDONLY' | 'WRONLY' | 'RDWR', flags: OpenFlag[], mode: number }
  | { op: 'close', slot: number }
  | { op: 'read', slot: number, length: number }
  | { op: 'write', slot: number, length: number, fill: number }
  | { op: 'pread', slot: number, length: number, offset: number }
  | { op: 'pwrite', slot: number, length: number, offset: number, fill: number }
  | { op: 'lseek', slot: number, offset: number, whence: 'SET' | 'CUR' | 'END' }
  | { op: 'ftruncate', slot: number, length: number }
  | { op: 'fstat', slot: number }
  | { op: 'stat' | 'lstat' | 'readlink' | 'unlink' | 'rmdir' | 'list', path: FsPath }
  | { op: 'chmod', path: FsPath, mode: number }
  | { op: 'fchmod', slot: number, mode: number }
  | { op: 'mkdir', path: FsPath, mode: number }
  | { op: 'rename' | 'link', from: FsPath, to: FsPath }
  | { op: 'symlink', target: string, path: FsPath }

/** What one step did: its result, its errno, or why it was not made (no open fd, not a regular file). */
export type Outcome = { ok: unknown } | { errno: number, code: string } | { skipped: string }

/** One side of the comparison: runs operations in its own root. */
export interface FsSide {
  run(op: FsOp): Promise<Outcome>
  /** Close what is open and remove the root where it can. */
  dispose(): Promise<void>
}

export interface Mismatch {
  step: number
  op: FsOp
  host: Outcome
  kernel: Outcome
  /** Every step up to the mismatch, with the outcome both sides agreed on. */
  transcript: string[]
}

// ---- the generator --------------------------------------------------------------

const path$ = fc.constantFrom(...PATHS)
/** Owner rwx always (see the header), group and other bits random. */
const mode$ = fc.integer({ min: 0, max: 0o77 }).map((m) => 0o700 | m)
const slot$ = fc.nat({ max: 7 })
const length$ = fc.integer({ min: 0, max: 300 })
/** Node's readSync answers a 0-byte read itself, without asking the host kernel (which checks the fd first). */
const readLength$ = fc.integer({ min: 1, max: 300 })
const offset$ = fc.integer({ min: 0, max: 5000 })
const fill$ = fc.integer({ min: 0, max: 255 })
/**
 * O_CREAT in 7 opens of 10, so that most opens make an fd for the fd operations;
 * at most two other flags; never O_CREAT with O_DIRECTORY (see the header).
 */
const openFlags$: fc.Arbitrary<OpenFlag[]> = fc.tuple(
  fc.nat({ max: 9 }), fc.subarray(OPEN_FLAGS.filter((f) => f !== 'CREAT'), { maxLength: 2 }),
).map(([draw, others]) => draw < 7 ? ['CREAT' as const, ...others.filter((f) => f !== 'DIRECTORY')] : others)

export const fsOp: fc.Arbitrary<FsOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    op: fc.constant('open' as const), path: path$, access: fc.constantFrom('RDONLY' as const, 'WRONLY' as const, 'RDWR' as const),
    flags: openFlags$, mode: mode$,
  }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('close' as const), slot: slot$ }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('read' as const), slot: slot$, length: readLength$ }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('write' as const), slot: slot$, length: length$, fill: fill$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pread' as const), slot: slot$, length: readLength$, offset: offset$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pwrite' as const), slot: slot$, length: length$, offset: offset$, fill: fill$ }) },
  { weight: 2, arbitrary: fc.record({
    op: fc.constant('lseek' as const), slot: slot$, offset: fc.integer({ min: -600, max: 5000 }),
    whence: fc.constantFrom('SET' as const, 'CUR' as const, 'END' as const),
  }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ftruncate' as const), slot: slot$, length: offset$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fstat' as const), slot: slot$ }) },
  { weight: 4, arbitrary: fc.record({
    op: fc.constantFrom('stat' as const, 'lstat' as const, 'readlink' as const, 'unlink' as const, 'rmdir' as const, 'list' as const),
    path: path$,
  }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('chmod' as const), path: path$, mode: mode$ }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fchmod' as const), slot: slot$, mode: mode$ }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mkdir' as const), path: path$, mode: mode$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('rename' as const, 'link' as const), from: path$, to: path$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('symlink' as const), target: fc.constantFrom(...LINK_TARGETS), path: path$ }) },
)

/** Up to 80 steps; size 'max' so that long sequences (where state builds up) are common, not rare. */
export const fsProgram = fc.array(fsOp, { minLength: 1, maxLength: 80, size: 'max' })

// ---- shared helpers ---------------------------------------------------------------

/** A stat reduced to what both sides must agree on (see the header). */
interface StatView {
  type: 'file' | 'dir' | 'symlink' | 'other'
  perm: number
  nlink: number
  size?: number
}

/** File type bits, the same on the host and in the kernel (Linux's ABI): statView reads both sides' modes. */
const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

function statView(mode: number, nlink: number, size: number, compareDirSizes: boolean): StatView {
  const format = mode & S_IFMT
  const type = format === S_IFREG ? 'file' : format === S_IFDIR ? 'dir' : format === S_IFLNK ? 'symlink' : 'other'
  return { type, perm: mode & 0o7777, nlink, ...(type !== 'dir' || compareDirSizes ? { size } : {}) }
}

/** Bytes written by a write of length with fill: a pattern that shows offsets. */
function pattern(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => (fill + i) & 0xff)
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
}

/** The open fds of one side, by the order of the opens that made them. */
class Slots<T> {
  readonly #open: T[] = []

  add(fd: T): void {
    this.#open.push(fd)
  }

  /** The fd that slot names among those open (slot modulo their count), or null when none is. */
  get(slot: number): T | null {
    return this.#open.length === 0 ? null : this.#open[slot % this.#open.length] ?? null
  }

  remove(fd: T): void {
    this.#open.splice(this.#open.indexOf(fd), 1)
  }

  all(): readonly T[] {
    return [...this.#open]
  }
}

/** The mode of both roots. */
const ROOT_MODE = 0o755

const NO_FD: Outcome = { skipped: 'no open fd' }
const NOT_REGULAR: Outcome = { skipped: 'lseek only on regular files' }

// ---- the host side ------------------------------------------------------------------

/** The host process's umask, without changing it (process.umask() with no argument is deprecated). */
export function hostUmask(): number {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('Umask:'))
  if (line === undefined) throw new Error('/proc/self/status has no Umask line (Linux 4.7 or later is needed)')
  return Number.parseInt(line.slice('Umask:'.length).trim(), 8)
}

/** Where host roots go: tmpfs when the host has /dev/shm (the kernel side is tmpfs too). */
export function hostScratch(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
}

const TMPFS_MAGIC = 0x0102_1994

export function isTmpfs(dir: string): boolean {
  return statfsSync(dir).type === TMPFS_MAGIC
}

interface HostFd {
  fd: number
  append: boolean
  /** The file offset this side keeps itself (Node's fs has no lseek). */
  offset: number
}

export class HostSide implements FsSide {
  readonly #parent: string
  readonly #root: string
  readonly #slots = new Slots<HostFd>()
  readonly #compareDirSizes: boolean

  constructor(scratch: string, compareDirSizes: boolean) {
    // The root sits one level down, so that a "../x" target resolves in a private, empty parent.
    this.#parent = mkdtempSync(path.join(scratch, 'uklkl-diff-'))
    this.#root = path.join(this.#parent, 'w')
    mkdirSync(this.#root)
    // A symlink to "." makes the root itself visible: both roots have ROOT_MODE, whatever the umask.
    chmodSync(this.#root, ROOT_MODE)
    this.#compareDirSizes = compareDirSizes
  }

  #path(p: string): string {
    // Not path.join: it would drop a "." or a trailing "/" that the kernel side passes on.
    return `${this.#root}/${p}`
  }

  async run(op: FsOp): Promise<Outcome> {
    try {
      return { ok: this.#run(op) }
    } catch (error) {
      if (error instanceof Skip) return error.outcome
      const errno = (error as NodeJS.ErrnoException).errno
      const code = (error as NodeJS.ErrnoException).code
      if (typeof errno !== 'number' || code === undefined || code.startsWith('ERR_')) throw error
      return { errno: -errno, code }
    }
  }

  #fd(slot: number): HostFd {
    const fd = this.#slots.get(slot)
    if (fd === null) throw new Skip(NO_FD)
    return fd
  }

  #stat(stats: Stats): StatView {
    return statView(stats.mode, stats.nlink, stats.size, this.#compareDirSizes)
  }

  #run(op: FsOp): unknown {
    const C = fsConstants
    switch (op.op) {
      case 'open': {
        const flags = C[`O_${op.access}`] | op.flags.reduce((f, name) => f | C[`O_${name}`], 0)
        const fd = openSync(this.#path(op.path), flags, op.mode)
        this.#slots.add({ fd, append: op.flags.includes('APPEND'), offset: 0 })
        return 'fd'
      }
      case 'close': {
        const fd = this.#fd(op.slot)
        this.#slots.remove(fd)
        closeSync(fd.fd)
        return 0
      }
      case 'read': {
        const fd = this.#fd(op.slot)
        const buf = new Uint8Array(op.length)
        const n = readSync(fd.fd, buf, 0, op.length, fd.offset)
        fd.offset += n
        return hexOf(buf.subarray(0, n))
      }
      case 'write': {
        const fd = this.#fd(op.slot)
        const n = writeSync(fd.fd, pattern(op.length, op.fill), 0, op.length, fd.offset)
        // write() with O_APPEND leaves the offset at the new end of file.
        if (n > 0) fd.offset = fd.append ? fstatSync(fd.fd).size : fd.offset + n
        return n
      }
      case 'pread': {
        const buf = new Uint8Array(op.length)
        const n = readSync(this.#fd(op.slot).fd, buf, 0, op.length, op.offset)
        return hexOf(buf.subarray(0, n))
      }
      case 'pwrite':
        return writeSync(this.#fd(op.slot).fd, pattern(op.length, op.fill), 0, op.length, op.offset)
      case 'lseek': {
        const fd = this.#fd(op.slot)
        const stats = fstatSync(fd.fd)
        if (!stats.isFile()) throw new Skip(NOT_REGULAR)
        const base = op.whence === 'SET' ? 0 : op.whence === 'CUR' ? fd.offset : stats.size
        if (base + op.offset < 0) throw Object.assign(new Error('lseek: EINVAL'), { errno: -22, code: 'EINVAL' })
        fd.offset = base + op.offset
        return fd.offset
      }
      case 'ftruncate':
        ftruncateSync(this.#fd(op.slot).fd, op.length)
        return 0
      case 'fstat':
        return this.#stat(fstatSync(this.#fd(op.slot).fd))
      case 'stat':
        return this.#stat(statSync(this.#path(op.path)))
      case 'lstat':
        return this.#stat(lstatSync(this.#path(op.path)))
      case 'readlink':
        return readlinkSync(this.#path(op.path))
      case 'unlink':
        unlinkSync(this.#path(op.path))
        return 0
      case 'rmdir':
        rmdirSync(this.#path(op.path))
        return 0
      case 'list':
        return readdirSync(this.#path(op.path), { withFileTypes: true })
          .map((d) => `${d.name}:${d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : 'other'}`)
          .sort()
      case 'chmod':
        chmodSync(this.#path(op.path), op.mode)
        return 0
      case 'fchmod':
        fchmodSync(this.#fd(op.slot).fd, op.mode)
        return 0
      case 'mkdir':
        mkdirSync(this.#path(op.path), op.mode)
        return 0
      case 'rename':
        renameSync(this.#path(op.from), this.#path(op.to))
        return 0
      case 'link':
        linkSync(this.#path(op.from), this.#path(op.to))
        return 0
      case 'symlink':
        symlinkSync(op.target, this.#path(op.path))
        return 0
    }
  }

  async dispose(): Promise<void> {
    for (const fd of this.#slots.all()) closeSync(fd.fd)
    rmSync(this.#parent, { recursive: true, force: true })
  }
}

/** Thrown inside a side's run to report a step it did not make. */
class Skip extends Error {
  constructor(readonly outcome: Outcome) {
    super('skipped')
  }
}

// ---- the kernel side -------------------------------------------------------------------

const DT_NAMES: Readonly<Record<number, string>> = { 4: 'dir', 8: 'file', 10: 'symlink' }
let kernelRoots = 0

export class KernelSide implements FsSide {
  readonly #k: Kernel
  readonly #parent: string
  readonly #root: string
  readonly #slots = new Slots<number>()
  readonly #compareDirSizes: boolean

  private constructor(k: Kernel, parent: string, compareDirSizes: boolean) {
    this.#k = k
    this.#parent = parent
    this.#root = `${parent}/w`
    this.#compareDirSizes = compareDirSizes
  }

  /** A fresh root under base (a kernel directory), one level down like the host's. */
  static async create(k: Kernel, base: string, compareDirSizes: boolean): Promise<KernelSide> {
    const parent = `${base}/run-${++kernelRoots}`
    await k.sys.mkdirat(k.constants.AT_FDCWD, parent, 0o700)
    await k.sys.mkdirat(k.constants.AT_FDCWD, `${parent}/w`, ROOT_MODE)
    await k.sys.fchmodat(k.constants.AT_FDCWD, `${parent}/w`, ROOT_MODE)
    return new KernelSide(k, parent, compareDirSizes)
  }

  #path(p: string): string {
    return `${this.#root}/${p}`
  }

  async run(op: FsOp): Promise<Outcome> {
    try {
      return { ok: await this.#run(op) }
    } catch (error) {
      if (error instanceof Skip) return error.outcome
      if (error instanceof LinuxError) return { errno: error.errno, code: error.code }
      throw error
    }
  }

  #fd(slot: number): number {
    const fd = this.#slots.get(slot)
    if (fd === null) throw new Skip(NO_FD)
    return fd
  }

  async #fstat(fd: number): Promise<Record<string, unknown>> {
    const buf = this.#k.buffer('stat64')
    await this.#k.sys.fstat64(fd, buf)
    return this.#k.decode('stat64', buf)
  }

  #statView(st: Record<string, unknown>): StatView {
    return statView(Number(st.st_mode), Number(st.st_nlink), Number(st.st_size), this.#compareDirSizes)
  }

  async #statPath(p: string, flags: number): Promise<StatView> {
    const buf = this.#k.buffer('stat64')
    await this.#k.sys.fstatat64(this.#k.constants.AT_FDCWD, this.#path(p), buf, flags)
    return this.#statView(this.#k.decode('stat64', buf))
  }

  async #run(op: FsOp): Promise<unknown> {
    const { sys, constants: C } = this.#k
    const cwd = C.AT_FDCWD
    switch (op.op) {
      case 'open': {
        const flags = C[`O_${op.access}`] | op.flags.reduce((f, name) => f | C[`O_${name}`], 0)
        this.#slots.add(await sys.openat(cwd, this.#path(op.path), flags, op.mode))
        return 'fd'
      }
      case 'close': {
        const fd = this.#fd(op.slot)
        this.#slots.remove(fd)
        await sys.close(fd)
        return 0
      }
      case 'read': {
        const buf = new Uint8Array(op.length)
        const n = await sys.read(this.#fd(op.slot), buf, op.length)
        return hexOf(buf.subarray(0, n))
      }
      case 'write':
        return sys.write(this.#fd(op.slot), pattern(op.length, op.fill), op.length)
      case 'pread': {
        const buf = new Uint8Array(op.length)
        const n = await sys.pread64(this.#fd(op.slot), buf, op.length, op.offset)
        return hexOf(buf.subarray(0, n))
      }
      case 'pwrite':
        return sys.pwrite64(this.#fd(op.slot), pattern(op.length, op.fill), op.length, op.offset)
      case 'lseek': {
        const fd = this.#fd(op.slot)
        if ((Number((await this.#fstat(fd)).st_mode) & S_IFMT) !== S_IFREG) throw new Skip(NOT_REGULAR)
        const result = new Uint8Array(8)
        const offset = BigInt.asUintN(64, BigInt(op.offset))
        await sys.llseek(fd, Number(offset >> 32n), Number(offset & 0xffff_ffffn), result, C[`SEEK_${op.whence}`])
        return Number(new DataView(result.buffer).getBigInt64(0, true))
      }
      case 'ftruncate':
        await sys.ftruncate64(this.#fd(op.slot), op.length)
        return 0
      case 'fstat':
        return this.#statView(await this.#fstat(this.#fd(op.slot)))
      case 'stat':
        return this.#statPath(op.path, 0)
      case 'lstat':
        return this.#statPath(op.path, C.AT_SYMLINK_NOFOLLOW)
      case 'readlink': {
        const buf = new Uint8Array(256)
        const n = await sys.readlinkat(cwd, this.#path(op.path), buf, buf.length)
        return new TextDecoder().decode(buf.subarray(0, n))
      }
      case 'unlink':
        await sys.unlinkat(cwd, this.#path(op.path), 0)
        return 0
      case 'rmdir':
        await sys.unlinkat(cwd, this.#path(op.path), C.AT_REMOVEDIR)
        return 0
      case 'list':
        return (await this.#entries(this.#path(op.path))).map((e) => `${e.name}:${e.type}`).sort()
      case 'chmod':
        await sys.fchmodat(cwd, this.#path(op.path), op.mode)
        return 0
      case 'fchmod':
        await sys.fchmod(this.#fd(op.slot), op.mode)
        return 0
      case 'mkdir':
        await sys.mkdirat(cwd, this.#path(op.path), op.mode)
        return 0
      case 'rename':
        await sys.renameat2(cwd, this.#path(op.from), cwd, this.#path(op.to), 0)
        return 0
      case 'link':
        await sys.linkat(cwd, this.#path(op.from), cwd, this.#path(op.to), 0)
        return 0
      case 'symlink':
        await sys.symlinkat(op.target, cwd, this.#path(op.path))
        return 0
    }
  }

  /** The entries of the directory at dir through getdents64, without . and .. (as the host lists them). */
  async #entries(dir: string): Promise<{ name: string, type: string }[]> {
    const { sys, constants: C } = this.#k
    const fd = await sys.openat(C.AT_FDCWD, dir, C.O_RDONLY | C.O_DIRECTORY, 0)
    try {
      const entries: { name: string, type: string }[] = []
      const buf = new Uint8Array(4096)
      for (;;) {
        const n = await sys.getdents64(fd, buf, buf.length)
        if (n === 0) break
        for (let at = 0; at < n;) {
          const entry = this.#k.decode('linux_dirent64', buf.subarray(0, n), at)
          const nameBytes = entry.d_name as Uint8Array
          const name = new TextDecoder().decode(nameBytes.subarray(0, nameBytes.indexOf(0)))
          if (name !== '.' && name !== '..') entries.push({ name, type: DT_NAMES[Number(entry.d_type)] ?? 'other' })
          at += Number(entry.d_reclen)
        }
      }
      return entries
    } finally {
      await sys.close(fd)
    }
  }

  /** Remove dir and everything under it. */
  async #removeTree(dir: string): Promise<void> {
    const { sys, constants: C } = this.#k
    for (const { name, type } of await this.#entries(dir)) {
      if (type === 'dir') await this.#removeTree(`${dir}/${name}`)
      else await sys.unlinkat(C.AT_FDCWD, `${dir}/${name}`, 0)
    }
    await sys.unlinkat(C.AT_FDCWD, dir, C.AT_REMOVEDIR)
  }

  async dispose(): Promise<void> {
    for (const fd of this.#slots.all()) await this.#k.sys.close(fd)
    // The kernel's tmpfs has a bounded number of inodes: many runs must not use them up.
    await this.#removeTree(this.#parent)
  }
}

// ---- the comparison -----------------------------------------------------------------------

function same(a: Outcome, b: Outcome): boolean {
  // errno decides, not the name: Node says ENOTSUP where the kernel's table says EOPNOTSUPP.
  if ('errno' in a && 'errno' in b) return a.errno === b.errno
  return JSON.stringify(a) === JSON.stringify(b)
}

function show(outcome: Outcome): string {
  if ('errno' in outcome) return `${outcome.code} (errno ${outcome.errno})`
  if ('skipped' in outcome) return `skipped: ${outcome.skipped}`
  return JSON.stringify(outcome.ok)
}

export function describeOp(op: FsOp): string {
  const { op: name, ...args } = op
  return `${name} ${JSON.stringify(args)}`
}

/** Run ops on both sides, step by step; the first step whose outcomes differ, or null. */
export async function compareSides(ops: readonly FsOp[], host: FsSide, kernel: FsSide): Promise<Mismatch | null> {
  const transcript: string[] = []
  for (const [step, op] of ops.entries()) {
    const hostOutcome = await host.run(op)
    const kernelOutcome = await kernel.run(op)
    if (!same(hostOutcome, kernelOutcome)) return { step, op, host: hostOutcome, kernel: kernelOutcome, transcript }
    transcript.push(`${step}: ${describeOp(op)} → ${show(hostOutcome)}`)
  }
  return null
}

export function describeMismatch(m: Mismatch): string {
  return [...m.transcript, `${m.step}: ${describeOp(m.op)}`, `  host:   ${show(m.host)}`, `  kernel: ${show(m.kernel)}`].join('\n')
}
