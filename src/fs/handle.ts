// SPDX-License-Identifier: MIT
/**
 * fs/handle.ts - KernelFileHandle: Node's FileHandle (what fs/promises open()
 * resolves with) over a kernel file descriptor.
 *
 * Differences from Node: read and write loop over chunks (see context.ts), so a
 * read of a regular file fills the buffer unless it reaches the end, and a write
 * writes everything (Node makes one syscall, which may do less). Closing does not
 * wait for operations in flight, and a handle that is never closed keeps its
 * kernel descriptor (Node closes it on garbage collection, with a warning).
 */
import { FsContext, type Position } from './context.js'
import { fileClosedError } from './errors.js'
import { type Mode, type TimeLike, parseMode, timespecPair, toSeconds } from './flags.js'
import type { BigIntStats, Stats } from './stats.js'

export interface ReadResult<T extends Uint8Array> {
  bytesRead: number
  buffer: T
}

export interface WriteResult<T extends Uint8Array | string> {
  bytesWritten: number
  buffer: T
}

export interface ReadPlacement {
  /** Where in the buffer the data goes; 0 by default. */
  offset?: number | null | undefined
  /** How much to read; the rest of the buffer by default. */
  length?: number | null | undefined
  /** Where in the file; null (or -1) for the file's offset, which then advances. */
  position?: Position | undefined
}

export interface ReadOptions<T extends Uint8Array> extends ReadPlacement {
  /** A 16 KiB Buffer by default. */
  buffer?: T
}

export interface StatOptions {
  bigint?: boolean
}

export interface ReadFileOptions {
  /** Decode to a string with this encoding; a Buffer without one. */
  encoding?: BufferEncoding | null
  /** Open flags; 'r' by default. */
  flag?: string | number
}

export interface WriteFileOptions {
  /** How a string is encoded; 'utf8' by default. */
  encoding?: BufferEncoding | null
  /** The mode of a file the call creates; 0o666 by default (less the umask). */
  mode?: Mode
  /** Open flags; 'w' (writeFile) or 'a' (appendFile) by default. */
  flag?: string | number
}

/** Node's default buffer for a read() without one. */
const DEFAULT_READ_SIZE = 16 * 1024

/** data as bytes: a string encoded, a Uint8Array as it is. */
export function toBytes(data: string | Uint8Array, encoding: BufferEncoding | null | undefined): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding ?? 'utf8')
  if (data instanceof Uint8Array) return data
  throw new TypeError(`data must be a string or a Uint8Array, not ${typeof data}`)
}

function checkRange(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer in [0, ${max}], not ${value}`)
  }
  return value
}

/** null for the file's own offset (Node's null, undefined and -1), else a position. */
function filePosition(position: Position | undefined): Position {
  if (position === null || position === undefined || position === -1 || position === -1n) return null
  if (typeof position === 'bigint' ? position < 0n : !Number.isSafeInteger(position) || position < 0) {
    throw new RangeError(`position must be a non-negative integer, null or -1, not ${position}`)
  }
  return position
}

/** An open kernel file, as from k.fs.open(); Node's FileHandle. */
export class KernelFileHandle implements AsyncDisposable {
  readonly #ctx: FsContext
  #fd: number

  /** Use k.fs.open(). */
  constructor(ctx: FsContext, fd: number) {
    this.#ctx = ctx
    this.#fd = fd
  }

  /** The kernel's descriptor; -1 once closed (as on Node). */
  get fd(): number {
    return this.#fd
  }

  /** The descriptor for syscall, or Node's "file closed" error. */
  #open(syscall: string): number {
    if (this.#fd < 0) throw fileClosedError(syscall)
    return this.#fd
  }

  read(): Promise<ReadResult<Buffer>>
  read<T extends Uint8Array>(buffer: T, offset?: number | null, length?: number | null, position?: Position): Promise<ReadResult<T>>
  read<T extends Uint8Array>(buffer: T, options: ReadPlacement): Promise<ReadResult<T>>
  read<T extends Uint8Array = Buffer>(options: ReadOptions<T>): Promise<ReadResult<T>>
  async read(
    first?: Uint8Array | ReadOptions<Uint8Array>, offset?: number | null | ReadPlacement, length?: number | null, position?: Position,
  ): Promise<ReadResult<Uint8Array>> {
    let buffer: Uint8Array
    let place: ReadPlacement
    if (first === undefined || !(first instanceof Uint8Array)) {
      buffer = first?.buffer ?? Buffer.alloc(DEFAULT_READ_SIZE)
      place = first ?? {}
    } else {
      buffer = first
      place = offset !== null && typeof offset === 'object' ? offset : { offset, length, position }
    }
    const at = checkRange('offset', place.offset ?? 0, buffer.length)
    const count = checkRange('length', place.length ?? buffer.length - at, buffer.length - at)
    const where = filePosition(place.position)
    const fd = this.#open('read')
    if (count === 0) return { bytesRead: 0, buffer }
    const bytesRead = await this.#ctx.errors.call('read', undefined,
      () => this.#ctx.readInto(fd, buffer.subarray(at, at + count), where))
    return { bytesRead, buffer }
  }

  write<T extends Uint8Array>(buffer: T, offset?: number | null, length?: number | null, position?: Position): Promise<WriteResult<T>>
  write<T extends Uint8Array>(buffer: T, options: ReadPlacement): Promise<WriteResult<T>>
  write(data: string, position?: Position, encoding?: BufferEncoding): Promise<WriteResult<string>>
  async write(
    data: Uint8Array | string, offset?: Position | ReadPlacement, length?: number | BufferEncoding | null, position?: Position,
  ): Promise<WriteResult<Uint8Array | string>> {
    let bytes: Uint8Array
    let where: Position
    if (typeof data === 'string') {
      if (typeof offset === 'object' && offset !== null) throw new TypeError('write(string, ...) takes a position, not options')
      bytes = toBytes(data, typeof length === 'string' ? length : 'utf8')
      where = filePosition(offset)
    } else {
      if (typeof length === 'string') throw new TypeError('write(buffer, ...) takes a length, not an encoding')
      if (typeof offset === 'bigint') throw new TypeError('write(buffer, offset) takes a number as its offset')
      const place: ReadPlacement = offset !== null && typeof offset === 'object' ? offset : { offset, length, position }
      const buffer = toBytes(data, null)
      const at = checkRange('offset', place.offset ?? 0, buffer.length)
      const count = checkRange('length', place.length ?? buffer.length - at, buffer.length - at)
      bytes = buffer.subarray(at, at + count)
      where = filePosition(place.position)
    }
    const fd = this.#open('write')
    const bytesWritten = await this.#ctx.errors.call('write', undefined, () => this.#ctx.writeFrom(fd, bytes, where))
    return { bytesWritten, buffer: data }
  }

  /** The rest of the file from the current offset. */
  readFile(options?: { encoding?: null } | null): Promise<Buffer>
  readFile(options: { encoding: BufferEncoding } | BufferEncoding): Promise<string>
  async readFile(options?: ReadFileOptions | BufferEncoding | null): Promise<Buffer | string> {
    const encoding = typeof options === 'string' ? options : options?.encoding
    const data = await this.#ctx.readRest(this.#open('read'))
    return encoding === null || encoding === undefined ? data : data.toString(encoding)
  }

  /** Write data from the current offset (as Node's filehandle.writeFile does). */
  async writeFile(data: string | Uint8Array, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    const bytes = toBytes(data, typeof options === 'string' ? options : options?.encoding)
    const fd = this.#open('write')
    await this.#ctx.errors.call('write', undefined, () => this.#ctx.writeFrom(fd, bytes, null))
  }

  /** The same as writeFile: appending depends on the flags the file was opened with. */
  appendFile(data: string | Uint8Array, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    return this.writeFile(data, options)
  }

  stat(options?: StatOptions & { bigint?: false }): Promise<Stats>
  stat(options: StatOptions & { bigint: true }): Promise<BigIntStats>
  async stat(options?: StatOptions): Promise<Stats | BigIntStats> {
    const fd = this.#open('fstat')
    const raw = await this.#ctx.errors.call('fstat', undefined, () => this.#ctx.statx(fd, '', this.#ctx.C.AT_EMPTY_PATH))
    return FsContext.stats(raw, options?.bigint)
  }

  async truncate(len: number | bigint = 0): Promise<void> {
    const fd = this.#open('ftruncate')
    await this.#ctx.errors.call('ftruncate', undefined, () => this.#ctx.sys.ftruncate64(fd, len))
  }

  async sync(): Promise<void> {
    const fd = this.#open('fsync')
    await this.#ctx.errors.call('fsync', undefined, () => this.#ctx.sys.fsync(fd))
  }

  async datasync(): Promise<void> {
    const fd = this.#open('fdatasync')
    await this.#ctx.errors.call('fdatasync', undefined, () => this.#ctx.sys.fdatasync(fd))
  }

  async chmod(mode: Mode): Promise<void> {
    const fd = this.#open('fchmod')
    const bits = parseMode(mode, 0)
    await this.#ctx.errors.call('fchmod', undefined, () => this.#ctx.sys.fchmod(fd, bits))
  }

  async chown(uid: number, gid: number): Promise<void> {
    const fd = this.#open('fchown')
    await this.#ctx.errors.call('fchown', undefined, () => this.#ctx.sys.fchown(fd, uid, gid))
  }

  async utimes(atime: TimeLike, mtime: TimeLike): Promise<void> {
    const times = timespecPair(toSeconds(atime, 'atime'), toSeconds(mtime, 'mtime'))
    const fd = this.#open('futime')
    // A NULL path makes utimensat act on the descriptor itself (futimens).
    await this.#ctx.errors.call('futime', undefined, () => this.#ctx.sys.utimensat_time64(fd, null, times, 0))
  }

  /** Close the descriptor; closing again does nothing (as on Node). */
  async close(): Promise<void> {
    const fd = this.#fd
    if (fd < 0) return
    this.#fd = -1
    await this.#ctx.errors.call('close', undefined, () => this.#ctx.sys.close(fd))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
