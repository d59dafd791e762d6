// SPDX-License-Identifier: MIT
/**
 * backends.ts - where a disk's bytes live: a host file, a byte array, or a
 * copy-on-write overlay over another disk. startKernel({ disks }) takes any
 * BlockBackend; these three are the built-in ones.
 *
 * - fileDisk(path, { readOnly, synchronous }): positional reads and writes on the
 *   file, fdatasync on FLUSH. Writers take an exclusive lock (lock.ts), so two
 *   kernels - in this process or another - cannot write one image; a read-only
 *   open is refused while a writer holds it. Reads and writes go through libuv's
 *   thread pool, so the JS thread (other kernels, other I/O) goes on while the
 *   host's disk works. With synchronous they are pread/pwrite on the JS thread
 *   instead: on an image in the host's page cache each is a copy of
 *   microseconds, where a trip through the thread pool costs a promise, a
 *   request object and a thread switch, about five times the CPU (measured: 2 000
 *   writes of 24 KiB to /dev/shm, 16 ms synchronous, 80-110 ms through
 *   fs/promises; a tree copied into an image took a third less CPU), but a read
 *   that misses the page cache stalls the JS thread for the time of the disk:
 *   for a process that does nothing else meanwhile, like the image tools. Such
 *   a disk (and a memory disk) offers BlockBackend.sync, and the device completes
 *   each read and write inside the register write that submitted it: no thread
 *   of the kernel waits, and no fiber is spawned for the interrupt.
 *   fdatasync, which waits for the disk, stays asynchronous either way.
 * - memoryDisk(bytes | size): the bytes themselves (writes land in them), or a
 *   zeroed array of size bytes.
 * - overlayDisk(base): reads come from base until a block is written; writes go
 *   to blocks kept in memory. The base is only ever read.
 *
 * Limits: sizes are whole 512-byte sectors (a file of another size is refused);
 * a memory disk is bounded by what one ArrayBuffer may hold; an overlay's writes
 * live in memory and are gone with it.
 */
import { createHash } from 'node:crypto'
import { fstatSync, readSync, realpathSync, writeSync } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { type ImageLock, lockImage } from './lock.js'

export const SECTOR = 512

/** Storage for a virtio-blk disk. read and write get whole sectors inside size. */
export interface BlockBackend {
  /** For messages: the file's path, "memory", … */
  readonly description: string
  /** Bytes, a multiple of 512; valid once open() has resolved. */
  readonly size: number
  readonly readOnly: boolean
  /** The disk's serial number (GET_ID), at most 20 ASCII characters; stable across runs for a file. */
  readonly serial: string
  /** Make the storage ready (open the file, take the lock); startKernel calls it once. */
  open(): Promise<void>
  /**
   * Present when reads and writes are synchronous calls on the JS thread (a
   * memory disk; fileDisk with synchronous): the device then completes each
   * request within the register write that submitted it, with no wait and no
   * switch of threads, and stages every request in one buffer it reuses. They
   * throw on failure.
   */
  readonly sync?: SyncBlockIo | undefined
  /** Fill into with the bytes at offset. */
  read(offset: number, into: Uint8Array): Promise<void>
  write(offset: number, bytes: Uint8Array): Promise<void>
  /** Make completed writes durable. */
  flush(): Promise<void>
  /** Flush and let go (close the file, drop the lock); called once, when the kernel is done with it. */
  close(): Promise<void>
}

/** A backend's synchronous reads and writes (BlockBackend.sync). */
export interface SyncBlockIo {
  read(offset: number, into: Uint8Array): void
  write(offset: number, bytes: Uint8Array): void
}

export interface FileDiskOptions {
  readOnly?: boolean
  /** Reads and writes as synchronous calls on the JS thread (see above); false by default. */
  synchronous?: boolean
  /** The serial number; by default one derived from the file's real path. */
  serial?: string
}

function checkSize(description: string, size: number): number {
  if (size % SECTOR !== 0) {
    throw new RangeError(`disk ${description}: ${size} bytes is not a whole number of 512-byte sectors`)
  }
  return size
}

function checkSerial(serial: string): string {
  if (!/^[\x20-\x7e]{1,20}$/.test(serial)) {
    throw new RangeError(`a disk serial is 1 to 20 printable ASCII characters, not ${JSON.stringify(serial)}`)
  }
  return serial
}

class FileDisk implements BlockBackend {
  readonly description: string
  readonly readOnly: boolean
  readonly sync: SyncBlockIo | undefined
  size = 0
  serial: string
  #file: FileHandle | null = null
  #lock: ImageLock | null = null

  constructor(readonly path: string, options: FileDiskOptions) {
    this.description = path
    this.readOnly = options.readOnly ?? false
    this.sync = options.synchronous === true
      ? { read: (offset, into) => this.#readNow(offset, into), write: (offset, bytes) => this.#writeNow(offset, bytes) }
      : undefined
    this.serial = options.serial === undefined ? '' : checkSerial(options.serial)
  }

  async open(): Promise<void> {
    // The metadata steps are synchronous (microseconds each; a trip through the
    // thread pool costs 0.2-1 ms): only opening the FileHandle takes one.
    const real = realpathSync.native(this.path)
    if (this.serial === '') this.serial = createHash('sha256').update(real).digest('hex').slice(0, 20)
    this.#lock = lockImage(real, this.readOnly ? 'read' : 'write')
    try {
      this.#file = await open(real, this.readOnly ? 'r' : 'r+')
      this.size = checkSize(this.path, fstatSync(this.#file.fd).size)
    } catch (error) {
      await this.#file?.close()
      this.#file = null
      this.#lock.release()
      throw error
    }
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    if (this.sync !== undefined) return this.sync.read(offset, into)
    const file = this.#opened()
    for (let done = 0; done < into.length;) {
      const { bytesRead } = await file.read(into, done, into.length - done, offset + done)
      if (bytesRead === 0) throw this.#beyondEnd(offset + done)
      done += bytesRead
    }
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.sync !== undefined) return this.sync.write(offset, bytes)
    const file = this.#opened()
    for (let done = 0; done < bytes.length;) done += (await file.write(bytes, done, bytes.length - done, offset + done)).bytesWritten
  }

  #readNow(offset: number, into: Uint8Array): void {
    const fd = this.#opened().fd
    for (let done = 0; done < into.length;) {
      const bytesRead = readSync(fd, into, done, into.length - done, offset + done)
      if (bytesRead === 0) throw this.#beyondEnd(offset + done)
      done += bytesRead
    }
  }

  #writeNow(offset: number, bytes: Uint8Array): void {
    const fd = this.#opened().fd
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, offset + done)
  }

  #beyondEnd(at: number): RangeError {
    return new RangeError(`disk ${this.path}: read beyond the end of the file at ${at}`)
  }

  async flush(): Promise<void> {
    await this.#opened().datasync()
  }

  async close(): Promise<void> {
    const file = this.#file
    this.#file = null
    try {
      if (file !== null) {
        if (!this.readOnly) await file.datasync()
        await file.close()
      }
    } finally {
      this.#lock?.release()
      this.#lock = null
    }
  }

  #opened(): FileHandle {
    if (this.#file === null) throw new Error(`disk ${this.path} is not open`)
    return this.#file
  }
}

class MemoryDisk implements BlockBackend {
  readonly description = 'memory'
  readonly sync: SyncBlockIo = {
    read: (offset, into) => into.set(this.#bytes.subarray(offset, offset + into.length)),
    write: (offset, bytes) => this.#bytes.set(bytes, offset),
  }

  readonly size: number
  readonly serial: string
  readonly #bytes: Uint8Array

  constructor(bytes: Uint8Array, readonly readOnly: boolean, serial: string) {
    this.#bytes = bytes
    this.size = checkSize('in memory', bytes.length)
    this.serial = checkSerial(serial)
  }

  async open(): Promise<void> {}

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.sync.read(offset, into)
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    this.sync.write(offset, bytes)
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/* Copy-on-write granule of an overlay: a filesystem block. */
const CHUNK = 4096

class OverlayDisk implements BlockBackend {
  readonly readOnly = false
  readonly #base: BlockBackend
  readonly #chunks = new Map<number, Uint8Array>()

  constructor(base: BlockBackend) {
    if (!base.readOnly) {
      throw new TypeError(`the base of an overlay is only read: open it read-only (${base.description})`)
    }
    this.#base = base
  }

  get description(): string {
    return `overlay on ${this.#base.description}`
  }

  get size(): number {
    return this.#base.size
  }

  get serial(): string {
    return this.#base.serial
  }

  /** Bytes written so far, kept in memory. */
  get overlayBytes(): number {
    return this.#chunks.size * CHUNK
  }

  open(): Promise<void> {
    return this.#base.open()
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    const end = offset + into.length
    // Runs of chunks nobody wrote are read from the base in one go.
    let baseFrom = offset
    for (let at = offset; at < end;) {
      const index = Math.floor(at / CHUNK)
      const next = Math.min(end, (index + 1) * CHUNK)
      const chunk = this.#chunks.get(index)
      if (chunk !== undefined) {
        if (baseFrom < at) await this.#base.read(baseFrom, into.subarray(baseFrom - offset, at - offset))
        into.set(chunk.subarray(at - index * CHUNK, next - index * CHUNK), at - offset)
        baseFrom = next
      }
      at = next
    }
    if (baseFrom < end) await this.#base.read(baseFrom, into.subarray(baseFrom - offset))
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    for (let at = offset; at < offset + bytes.length;) {
      const index = Math.floor(at / CHUNK)
      const end = Math.min(offset + bytes.length, (index + 1) * CHUNK)
      let chunk = this.#chunks.get(index)
      if (chunk === undefined) {
        chunk = new Uint8Array(CHUNK)
        // A partly written chunk keeps the base's other bytes.
        if (at % CHUNK !== 0 || end - at < CHUNK) await this.#base.read(index * CHUNK, chunk.subarray(0, Math.min(CHUNK, this.size - index * CHUNK)))
        this.#chunks.set(index, chunk)
      }
      chunk.set(bytes.subarray(at - offset, end - offset), at % CHUNK)
      at = end
    }
  }

  async flush(): Promise<void> {}

  close(): Promise<void> {
    return this.#base.close()
  }
}

/** A disk on a host file (an image). */
export function fileDisk(path: string, options: FileDiskOptions = {}): BlockBackend {
  return new FileDisk(path, options)
}

let memorySerials = 0

/** A disk in memory: the given bytes (written in place), or size zeroed bytes. */
export function memoryDisk(bytesOrSize: Uint8Array | number, options: { readOnly?: boolean, serial?: string } = {}): BlockBackend {
  const bytes = typeof bytesOrSize === 'number' ? new Uint8Array(bytesOrSize) : bytesOrSize
  return new MemoryDisk(bytes, options.readOnly ?? false, options.serial ?? `uklkl-memory-${++memorySerials}`)
}

/** A writable disk over a read-only base: writes stay in memory, the base is never written. */
export function overlayDisk(base: BlockBackend): BlockBackend & { readonly overlayBytes: number } {
  return new OverlayDisk(base)
}
