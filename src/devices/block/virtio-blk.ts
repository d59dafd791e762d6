// SPDX-License-Identifier: MIT
/**
 * virtio-blk.ts - the block device model (virtio 1.x, 5.2) behind the virtio-mmio
 * transport, on a BlockBackend.
 *
 * A notification only takes the requests off the ring and starts their host I/O;
 * each request completes on its own when its I/O settles (status, used ring,
 * interrupt), so other syscalls run while a disk is busy, and the scheduler counts
 * the I/O as something the kernel waits for. Writes are copied out of guest memory
 * when they are taken, reads copied in when they complete. FLUSH waits for the
 * writes started before it, then flushes the backend. A synchronous backend
 * (BlockBackend.sync) has done a read or write when its call returns, so such a
 * request completes at once, inside the register write that submitted it: the
 * interrupt is only marked, and the submitting thread runs its handler at its
 * next interrupt point - no task sleeps on the request, no fiber raises the IRQ.
 * All its requests are staged in one buffer the device reuses (a fresh one for
 * each would be tens of MB of garbage per copied tree).
 *
 * A failing backend gives that request IOERR (the caller sees EIO) and the kernel
 * goes on. So does a backend that does not answer within the device's timeout
 * (Linux's block layer would wait for virtio-blk forever, and the kernel with
 * it): the request fails, the backend's late answer is dropped, and stats count
 * it. A malformed request (a header too short, no status byte) is the
 * kernel's bug and a VirtioError.
 *
 * Offers: 64-bit sectors, SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH, RO for a read-only
 * backend, GET_ID (the backend's serial). Limits: one queue; no discard or
 * write-zeroes (the kernel writes zeroes itself).
 */
import { VirtioError } from '../../errors.js'
import type { DeviceHost } from '../../host-ops/runtime.js'
import type { VirtioModel } from '../virtio/mmio.js'
import type { Chain, Segment, SplitQueue } from '../virtio/virtqueue.js'
import { type BlockBackend, SECTOR, type SyncBlockIo } from './backends.js'

const VIRTIO_ID_BLOCK = 2
const F_SIZE_MAX = 1n << 1n
const F_SEG_MAX = 1n << 2n
const F_RO = 1n << 5n
const F_BLK_SIZE = 1n << 6n
const F_FLUSH = 1n << 9n

const T_IN = 0
const T_OUT = 1
const T_FLUSH = 4
const T_GET_ID = 8
const REQUEST_NAMES: Readonly<Record<number, string>> = { [T_IN]: 'read', [T_OUT]: 'write', [T_FLUSH]: 'flush', [T_GET_ID]: 'get-id' }
const S_OK = 0
const S_IOERR = 1
const S_UNSUPP = 2

const HEADER = 16
const ID_BYTES = 20
/** Deep enough to keep a file busy; SEG_MAX leaves room for header and status. */
const QUEUE_SIZE = 256
const SIZE_MAX = 1 << 20

export interface BlockStats {
  reads: number
  writes: number
  flushes: number
  bytesRead: number
  bytesWritten: number
  /** Requests the backend failed (each became an I/O error in the kernel). */
  errors: number
  /** The last backend failure, for diagnosis. */
  lastError: Error | null
  /** Requests failed because the backend had not answered within the timeout (counted in errors too). */
  timeouts: number
}

/** Linux's default block request timeout (blk_mq's 30 s): longer than any disk should take. */
export const DEFAULT_IO_TIMEOUT_MS = 30_000

export class VirtioBlk implements VirtioModel {
  readonly deviceId = VIRTIO_ID_BLOCK
  readonly features: bigint
  readonly queueSizes = [QUEUE_SIZE]
  readonly stats: BlockStats = { reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0, errors: 0, lastError: null, timeouts: 0 }
  readonly #host: DeviceHost
  readonly #name: string
  readonly #backend: BlockBackend
  /** How long a request may wait for its backend, ms; 0 for ever. */
  readonly #timeoutMs: number
  readonly #config = new DataView(new ArrayBuffer(64))
  /** Writes in flight: a FLUSH waits for them. */
  readonly #writes = new Set<Promise<unknown>>()
  /** The request header, parsed as soon as it is taken. */
  readonly #headerBytes = new Uint8Array(HEADER)
  readonly #header = new DataView(this.#headerBytes.buffer)
  /** Staging of a synchronous backend's requests, grown to the largest one yet. */
  #staging = new Uint8Array(0)

  constructor(host: DeviceHost, name: string, backend: BlockBackend, timeoutMs = DEFAULT_IO_TIMEOUT_MS) {
    this.#host = host
    this.#name = name
    this.#backend = backend
    this.#timeoutMs = timeoutMs
    this.features = F_SIZE_MAX | F_SEG_MAX | F_BLK_SIZE | F_FLUSH | (backend.readOnly ? F_RO : 0n)
    this.#config.setBigUint64(0, BigInt(backend.size / SECTOR), true)
    this.#config.setUint32(8, SIZE_MAX, true)
    this.#config.setUint32(12, QUEUE_SIZE - 2, true)
    this.#config.setUint32(20, SECTOR, true)
  }

  readConfig(offset: number, width: number): number {
    if (offset + width > this.#config.byteLength) return 0
    if (width === 1) return this.#config.getUint8(offset)
    if (width === 2) return this.#config.getUint16(offset, true)
    return this.#config.getUint32(offset, true)
  }

  notify(_index: number, queue: SplitQueue): void {
    for (let chain = queue.pop(); chain !== null; chain = queue.pop()) this.#start(queue, chain)
  }

  reset(): void {
    // Requests in flight finish on the host; their retired queue drops the results.
  }

  #start(queue: SplitQueue, chain: Chain): void {
    const header = this.#header
    const got = this.#gather(chain.readable, 0, this.#headerBytes)
    if (got < HEADER) throw new VirtioError(this.#name, `request ${chain.head} has a header of ${got} bytes, not ${HEADER}`)
    const type = header.getUint32(0, true)
    const sector = header.getBigUint64(8, true)
    const status = this.#statusByte(chain)
    const data = this.#trimLast(chain.writable)
    const sync = this.#backend.sync
    if (sync !== undefined && (type === T_IN || type === T_OUT)) {
      this.#completeNow(queue, chain, status, () => type === T_IN ? this.#readNow(sync, sector, data) : this.#writeNow(sync, sector, chain.readable))
      return
    }
    const done = this.#host.beginIo()
    // The request's buffers are the driver's until it completes, and only until then.
    const request = { open: true }
    const live = (): boolean => request.open && queue.live
    let work: Promise<number>
    try {
      switch (type) {
        case T_IN: work = this.#read(live, sector, data); break
        case T_OUT: work = this.#write(sector, chain.readable); break
        case T_FLUSH: work = this.#flush(); break
        case T_GET_ID: work = this.#getId(queue, data); break
        default: work = Promise.resolve(-S_UNSUPP)
      }
    } catch (error) {
      // A backend that throws instead of rejecting: the same IOERR, and the I/O begun above still ends.
      work = Promise.reject(error)
    }
    if (this.#timeoutMs > 0) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(
          `disk ${this.#name}: the backend (${this.#backend.description}) did not answer a ${REQUEST_NAMES[type] ?? `type ${type}`} ` +
          `request at sector ${sector} within ${this.#timeoutMs} ms`)), this.#timeoutMs)
        // A hung backend must not keep the process alive either.
        timer.unref()
      })
      work = Promise.race([work, late]).finally(() => clearTimeout(timer))
      late.catch(() => { this.stats.timeouts++ })
    }
    void work.then((written) => this.#complete(live, queue, chain, status, written), (error: unknown) => {
      this.stats.errors++
      this.stats.lastError = error instanceof Error ? error : new Error(String(error))
      this.#complete(live, queue, chain, status, -S_IOERR)
    }).finally(() => {
      request.open = false
      done()
    })
  }

  /** A synchronous backend's request, done and completed now; a backend that throws gives IOERR. */
  #completeNow(queue: SplitQueue, chain: Chain, status: number, io: () => number): void {
    let written: number
    try {
      written = io()
    } catch (error) {
      this.stats.errors++
      this.stats.lastError = error instanceof Error ? error : new Error(String(error))
      written = -S_IOERR
    }
    this.#complete(() => queue.live, queue, chain, status, written)
  }

  #readNow(sync: SyncBlockIo, sector: bigint, data: readonly Segment[]): number {
    const length = data.reduce((sum, s) => sum + s.length, 0)
    const offset = this.#range(sector, length)
    if (offset < 0) return -S_IOERR
    const bytes = this.#stage(length)
    sync.read(offset, bytes)
    this.#scatter(data, bytes)
    this.stats.reads++
    this.stats.bytesRead += length
    return length
  }

  #writeNow(sync: SyncBlockIo, sector: bigint, readable: readonly Segment[]): number {
    const length = Math.max(0, readable.reduce((sum, s) => sum + s.length, 0) - HEADER)
    const offset = this.#range(sector, length)
    if (offset < 0 || this.#backend.readOnly) return -S_IOERR
    const bytes = this.#stage(length)
    this.#gather(readable, HEADER, bytes)
    sync.write(offset, bytes)
    this.stats.writes++
    this.stats.bytesWritten += length
    return 0
  }

  /** written >= 0: OK with that many data bytes written; -status otherwise. */
  #complete(live: () => boolean, queue: SplitQueue, chain: Chain, status: number, written: number): void {
    if (!live()) return
    this.#host.writeGuest(status, Uint8Array.of(written >= 0 ? S_OK : -written))
    queue.push(chain.head, Math.max(written, 0) + 1)
    queue.signal()
  }

  #read(live: () => boolean, sector: bigint, data: readonly Segment[]): Promise<number> {
    const length = data.reduce((sum, s) => sum + s.length, 0)
    const offset = this.#range(sector, length)
    if (offset < 0) return Promise.resolve(-S_IOERR)
    const bytes = new Uint8Array(length)
    return this.#backend.read(offset, bytes).then(() => {
      this.stats.reads++
      this.stats.bytesRead += length
      // The device was reset or the request timed out meanwhile: those buffers are no longer the driver's.
      if (live()) this.#scatter(data, bytes)
      return length
    })
  }

  /** bytes into the guest buffers data, in order. */
  #scatter(data: readonly Segment[], bytes: Uint8Array): void {
    let at = 0
    for (const segment of data) {
      this.#host.writeGuest(segment.address, bytes.subarray(at, at + segment.length))
      at += segment.length
    }
  }

  /** length bytes of the staging buffer (grown if need be). */
  #stage(length: number): Uint8Array {
    if (this.#staging.length < length) this.#staging = new Uint8Array(Math.max(length, 2 * this.#staging.length))
    return this.#staging.subarray(0, length)
  }

  /** A write of the readable buffers after the header. */
  #write(sector: bigint, readable: readonly Segment[]): Promise<number> {
    const length = Math.max(0, readable.reduce((sum, s) => sum + s.length, 0) - HEADER)
    const offset = this.#range(sector, length)
    if (offset < 0 || this.#backend.readOnly) return Promise.resolve(-S_IOERR)
    const bytes = new Uint8Array(length)
    this.#gather(readable, HEADER, bytes)
    const write = this.#backend.write(offset, bytes).then(() => {
      this.stats.writes++
      this.stats.bytesWritten += length
      return 0
    })
    const settled = write.catch(() => undefined)
    this.#writes.add(settled)
    void settled.finally(() => this.#writes.delete(settled))
    return write
  }

  async #flush(): Promise<number> {
    await Promise.all(this.#writes)
    await this.#backend.flush()
    this.stats.flushes++
    return 0
  }

  async #getId(queue: SplitQueue, data: readonly Segment[]): Promise<number> {
    const id = new Uint8Array(ID_BYTES)
    id.set(new TextEncoder().encode(this.#backend.serial).subarray(0, ID_BYTES))
    let at = 0
    for (const segment of data) {
      if (at >= ID_BYTES || !queue.live) break
      const n = Math.min(segment.length, ID_BYTES - at)
      this.#host.writeGuest(segment.address, id.subarray(at, at + n))
      at += n
    }
    return at
  }

  /** The byte offset of a request of length bytes at sector, or -1 when it leaves the disk or is not whole sectors. */
  #range(sector: bigint, length: number): number {
    const end = sector * BigInt(SECTOR) + BigInt(length)
    if (length % SECTOR !== 0 || end > BigInt(this.#backend.size)) return -1
    return Number(sector) * SECTOR
  }

  /** The address of the status byte: the last byte of the last writable buffer. */
  #statusByte(chain: Chain): number {
    const last = chain.writable.at(-1)
    if (last === undefined || last.length === 0) throw new VirtioError(this.#name, `request ${chain.head} has no status byte`)
    return last.address + last.length - 1
  }

  /** The writable buffers without the status byte. */
  #trimLast(segments: readonly Segment[]): Segment[] {
    const data = segments.slice()
    const last = data.pop()
    if (last !== undefined && last.length > 1) data.push({ address: last.address, length: last.length - 1 })
    return data
  }

  /** The bytes of segments from skip on into bytes (as many as fit); how many were copied. */
  #gather(segments: readonly Segment[], skip: number, bytes: Uint8Array): number {
    const total = Math.min(bytes.length, Math.max(0, segments.reduce((sum, s) => sum + s.length, 0) - skip))
    let offset = 0
    let toSkip = skip
    for (const segment of segments) {
      if (offset >= total) break
      const from = Math.min(toSkip, segment.length)
      toSkip -= from
      const n = Math.min(segment.length - from, total - offset)
      if (n > 0) this.#host.readGuest(segment.address + from, bytes.subarray(offset, offset + n))
      offset += n
    }
    return total
  }
}
