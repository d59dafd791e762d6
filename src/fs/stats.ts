// SPDX-License-Identifier: MIT
/**
 * fs/stats.ts - Stats, BigIntStats and Dirent of k.fs: Node's shapes, filled from
 * the kernel's struct statx and linux_dirent64.
 *
 * struct statx is read at its uapi offsets (include/uapi/linux/statx.h, a layout
 * Linux only ever extends at the end) because the generated layout lists only part
 * of its fields (no stx_btime, no device numbers). The times are computed the way
 * Node computes them, so that a k.fs stat and a Node stat of the same times agree
 * to the bit: ms = sec * 1e3 + nsec / 1e6 (a double), Dates from the rounded ms;
 * with bigint, ms and ns are exact and Dates come from the whole ms.
 *
 * Limits: birthtime is what the filesystem reports in stx_btime, 0 (the epoch)
 * when it keeps none, as on Node.
 */

/** File type bits of st_mode: Linux's ABI, the same on every architecture. */
const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000
const S_IFIFO = 0o010000
const S_IFCHR = 0o020000
const S_IFBLK = 0o060000
const S_IFSOCK = 0o140000

/** Bytes of struct statx. */
export const STATX_SIZE = 256

/** The fields of a struct statx, as read from its bytes. */
interface RawStat {
  dev: bigint
  ino: bigint
  mode: number
  nlink: number
  uid: number
  gid: number
  rdev: bigint
  size: bigint
  blksize: number
  blocks: bigint
  /** [seconds, nanoseconds] of atime, mtime, ctime, btime. */
  times: readonly (readonly [bigint, number])[]
}

/** glibc's makedev: how Node (through libuv) turns stx_*_major/minor into one number. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major)
  const mi = BigInt(minor)
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn)
}

/** Offsets of stx_atime, stx_mtime, stx_ctime, stx_btime: Node's order of the four times. */
const TIME_OFFSETS = [64, 112, 96, 80] as const

export function decodeStatx(bytes: Uint8Array): RawStat {
  const v = new DataView(bytes.buffer, bytes.byteOffset, STATX_SIZE)
  return {
    blksize: v.getUint32(4, true),
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    mode: v.getUint16(28, true),
    ino: v.getBigUint64(32, true),
    size: v.getBigUint64(40, true),
    blocks: v.getBigUint64(48, true),
    times: TIME_OFFSETS.map((at) => [v.getBigInt64(at, true), v.getUint32(at + 8, true)] as const),
    rdev: makedev(v.getUint32(128, true), v.getUint32(132, true)),
    dev: makedev(v.getUint32(136, true), v.getUint32(140, true)),
  }
}

/**
 * What reading a whole file needs of its struct statx: the size if it is a regular
 * file, null if not (pipes, /proc: no useful size). Cheaper than a Stats, whose
 * four Dates a readFile would throw away.
 */
export function regularFileSize(bytes: Uint8Array): number | null {
  const v = new DataView(bytes.buffer, bytes.byteOffset, STATX_SIZE)
  return (v.getUint16(28, true) & S_IFMT) === S_IFREG ? Number(v.getBigUint64(40, true)) : null
}

function isType(mode: number | bigint, type: number): boolean {
  return (Number(mode) & S_IFMT) === type
}

/** What Stats and BigIntStats share: the file's type from its mode, and the four Dates. */
abstract class StatsBase<T extends number | bigint> {
  abstract readonly mode: T
  abstract readonly atime: Date
  abstract readonly mtime: Date
  abstract readonly ctime: Date
  abstract readonly birthtime: Date

  isFile(): boolean {
    return isType(this.mode, S_IFREG)
  }

  isDirectory(): boolean {
    return isType(this.mode, S_IFDIR)
  }

  isSymbolicLink(): boolean {
    return isType(this.mode, S_IFLNK)
  }

  isFIFO(): boolean {
    return isType(this.mode, S_IFIFO)
  }

  isCharacterDevice(): boolean {
    return isType(this.mode, S_IFCHR)
  }

  isBlockDevice(): boolean {
    return isType(this.mode, S_IFBLK)
  }

  isSocket(): boolean {
    return isType(this.mode, S_IFSOCK)
  }
}

/** Node's fs.Stats: numbers, times in ms as doubles. */
export class Stats extends StatsBase<number> {
  readonly dev: number
  readonly mode: number
  readonly nlink: number
  readonly uid: number
  readonly gid: number
  readonly rdev: number
  readonly blksize: number
  readonly ino: number
  readonly size: number
  readonly blocks: number
  readonly atimeMs: number
  readonly mtimeMs: number
  readonly ctimeMs: number
  readonly birthtimeMs: number
  readonly atime: Date
  readonly mtime: Date
  readonly ctime: Date
  readonly birthtime: Date

  /** Use k.fs.stat(); raw is a decoded struct statx. */
  constructor(raw: RawStat) {
    super()
    this.dev = Number(raw.dev)
    this.mode = raw.mode
    this.nlink = raw.nlink
    this.uid = raw.uid
    this.gid = raw.gid
    this.rdev = Number(raw.rdev)
    this.blksize = raw.blksize
    this.ino = Number(raw.ino)
    this.size = Number(raw.size)
    this.blocks = Number(raw.blocks)
    const [a, m, c, b] = raw.times.map(([sec, nsec]) => Number(sec) * 1e3 + nsec / 1e6)
    this.atimeMs = a ?? 0
    this.mtimeMs = m ?? 0
    this.ctimeMs = c ?? 0
    this.birthtimeMs = b ?? 0
    this.atime = new Date(Math.round(this.atimeMs))
    this.mtime = new Date(Math.round(this.mtimeMs))
    this.ctime = new Date(Math.round(this.ctimeMs))
    this.birthtime = new Date(Math.round(this.birthtimeMs))
  }
}

/** Node's fs.BigIntStats (stat with { bigint: true }): bigints, and exact times in ns. */
export class BigIntStats extends StatsBase<bigint> {
  readonly dev: bigint
  readonly mode: bigint
  readonly nlink: bigint
  readonly uid: bigint
  readonly gid: bigint
  readonly rdev: bigint
  readonly blksize: bigint
  readonly ino: bigint
  readonly size: bigint
  readonly blocks: bigint
  readonly atimeMs: bigint
  readonly mtimeMs: bigint
  readonly ctimeMs: bigint
  readonly birthtimeMs: bigint
  readonly atimeNs: bigint
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
  readonly birthtimeNs: bigint
  readonly atime: Date
  readonly mtime: Date
  readonly ctime: Date
  readonly birthtime: Date

  /** Use k.fs.stat(path, { bigint: true }); raw is a decoded struct statx. */
  constructor(raw: RawStat) {
    super()
    this.dev = raw.dev
    this.mode = BigInt(raw.mode)
    this.nlink = BigInt(raw.nlink)
    this.uid = BigInt(raw.uid)
    this.gid = BigInt(raw.gid)
    this.rdev = raw.rdev
    this.blksize = BigInt(raw.blksize)
    this.ino = raw.ino
    this.size = raw.size
    this.blocks = raw.blocks
    const [a, m, c, b] = raw.times.map(([sec, nsec]) => sec * 1_000_000_000n + BigInt(nsec))
    this.atimeNs = a ?? 0n
    this.mtimeNs = m ?? 0n
    this.ctimeNs = c ?? 0n
    this.birthtimeNs = b ?? 0n
    this.atimeMs = this.atimeNs / 1_000_000n
    this.mtimeMs = this.mtimeNs / 1_000_000n
    this.ctimeMs = this.ctimeNs / 1_000_000n
    this.birthtimeMs = this.birthtimeNs / 1_000_000n
    this.atime = new Date(Number(this.atimeMs))
    this.mtime = new Date(Number(this.mtimeMs))
    this.ctime = new Date(Number(this.ctimeMs))
    this.birthtime = new Date(Number(this.birthtimeMs))
  }
}

/** d_type values of linux_dirent64 (Linux's ABI). */
export const DT_UNKNOWN = 0
const DT_FIFO = 1
const DT_CHR = 2
const DT_DIR = 4
const DT_BLK = 6
const DT_REG = 8
const DT_LNK = 10
const DT_SOCK = 12

/** The d_type of a file of this mode (for an entry whose filesystem reported DT_UNKNOWN). */
export function direntType(mode: number): number {
  return (mode & S_IFMT) >> 12
}

/** Node's fs.Dirent: an entry of a directory listed with { withFileTypes: true }. */
export class Dirent {
  readonly name: string
  /** The directory the entry is in, as the caller named it. */
  readonly parentPath: string
  /** The same as parentPath (Node 20 has both; path is deprecated there). */
  readonly path: string
  readonly #type: number

  /** Use k.fs.readdir(path, { withFileTypes: true }); type is a DT_* value. */
  constructor(name: string, parentPath: string, type: number) {
    this.name = name
    this.parentPath = parentPath
    this.path = parentPath
    this.#type = type
  }

  isFile(): boolean {
    return this.#type === DT_REG
  }

  isDirectory(): boolean {
    return this.#type === DT_DIR
  }

  isSymbolicLink(): boolean {
    return this.#type === DT_LNK
  }

  isFIFO(): boolean {
    return this.#type === DT_FIFO
  }

  isCharacterDevice(): boolean {
    return this.#type === DT_CHR
  }

  isBlockDevice(): boolean {
    return this.#type === DT_BLK
  }

  isSocket(): boolean {
    return this.#type === DT_SOCK
  }
}
