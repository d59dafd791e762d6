// SPDX-License-Identifier: MIT
/**
 * virtqueue.ts - the device's side of a split virtqueue (virtio 1.x, 2.7): take
 * the chains of descriptors the driver made available, give them back through
 * the used ring.
 *
 * Everything the driver wrote is checked before use: ring addresses and their
 * alignment, the available index (never more than the queue size ahead), each
 * head and next index, each buffer's range against guest memory, the order of
 * readable before writable buffers, chain length (a loop would never end) and
 * indirect tables (no nesting, whole descriptors). A violation throws VirtioError;
 * nothing here can make the host trap or spin.
 *
 * Limits: no event index (VIRTIO_F_EVENT_IDX is not offered): interrupts follow the
 * driver's NO_INTERRUPT flag; buffers are guest-physical = wasm addresses (the
 * port maps memory 1:1), so an address needs its high 32 bits zero.
 */
import { VirtioError } from '../../errors.js'
import type { DeviceHost } from '../../host-ops/runtime.js'

const DESC_SIZE = 16
const DESC_F_NEXT = 1
const DESC_F_WRITE = 2
const DESC_F_INDIRECT = 4
const AVAIL_F_NO_INTERRUPT = 1

/** One buffer of a chain, in guest memory. */
export interface Segment {
  readonly address: number
  readonly length: number
}

/** A request: the driver's buffers, those the device reads first, then those it writes. */
export interface Chain {
  readonly head: number
  readonly readable: readonly Segment[]
  readonly writable: readonly Segment[]
}

export interface RingAddresses {
  /** Descriptor table, available ring, used ring: guest addresses. */
  readonly desc: number
  readonly avail: number
  readonly used: number
}

export class SplitQueue {
  readonly #host: DeviceHost
  readonly #name: string
  readonly #size: number
  readonly #rings: RingAddresses
  readonly #signal: (queue: SplitQueue) => void
  readonly #scratch = new Uint8Array(DESC_SIZE)
  readonly #view = new DataView(this.#scratch.buffer)
  #lastAvail = 0
  #usedIdx = 0
  #live = true

  /**
   * Check the rings of a queue of size entries the driver set up at rings;
   * signal tells the driver of used buffers (the transport's interrupt).
   */
  constructor(host: DeviceHost, name: string, size: number, rings: RingAddresses, signal: (queue: SplitQueue) => void) {
    this.#host = host
    this.#name = name
    this.#signal = signal
    // Split rings are a power of 2 long (virtio 1.x, 2.7): indices wrap at 2^16, slots at size.
    if (!Number.isInteger(size) || size < 1 || size > 32768 || (size & (size - 1)) !== 0) {
      this.#broken(`queue size ${size} (a power of 2 up to 32768)`)
    }
    this.#size = size
    // A copy: the transport's registers may change under a live queue; the rings checked here stay.
    this.#rings = { desc: rings.desc, avail: rings.avail, used: rings.used }
    this.#checkRing('descriptor table', rings.desc, 16, DESC_SIZE * size)
    this.#checkRing('available ring', rings.avail, 2, 6 + 2 * size)
    this.#checkRing('used ring', rings.used, 4, 6 + 8 * size)
  }

  get size(): number {
    return this.#size
  }

  /** False once the device was reset: late completions of its requests are dropped. */
  get live(): boolean {
    return this.#live
  }

  retire(): void {
    this.#live = false
  }

  /** The next chain the driver made available, or null when there is none. */
  pop(): Chain | null {
    const availIdx = this.#u16(this.#rings.avail + 2)
    const pending = (availIdx - this.#lastAvail) & 0xffff
    if (pending === 0) return null
    if (pending > this.#size) this.#broken(`available index ${availIdx} is ${pending} entries ahead of ${this.#lastAvail} in a queue of ${this.#size}`)
    const head = this.#u16(this.#rings.avail + 4 + 2 * (this.#lastAvail % this.#size))
    this.#lastAvail = (this.#lastAvail + 1) & 0xffff
    return this.#walk(head)
  }

  /** Give chain head back with the number of bytes the device wrote into its buffers. */
  push(head: number, written: number): void {
    if (!this.#live) return
    const slot = this.#rings.used + 4 + 8 * (this.#usedIdx % this.#size)
    this.#view.setUint32(0, head, true)
    this.#view.setUint32(4, written, true)
    this.#host.writeGuest(slot, this.#scratch.subarray(0, 8))
    // The element first, then the index that publishes it.
    this.#usedIdx = (this.#usedIdx + 1) & 0xffff
    this.#view.setUint16(0, this.#usedIdx, true)
    this.#host.writeGuest(this.#rings.used + 2, this.#scratch.subarray(0, 2))
  }

  /** Tell the driver about the buffers pushed so far (one interrupt may cover many). */
  signal(): void {
    if (this.#live) this.#signal(this)
  }

  /** Whether the driver wants an interrupt for used buffers now (it clears the flag to be told). */
  wantsInterrupt(): boolean {
    return (this.#u16(this.#rings.avail) & AVAIL_F_NO_INTERRUPT) === 0
  }

  #walk(head: number): Chain {
    const readable: Segment[] = []
    const writable: Segment[] = []
    let table = this.#rings.desc
    let entries = this.#size
    let index = head
    let indirect = false
    // Each descriptor of a table at most once: a longer chain loops.
    for (let seen = 0; ; seen++) {
      if (index >= entries) this.#broken(`chain ${head}: descriptor index ${index} beyond a table of ${entries}`)
      if (seen >= entries) this.#broken(`chain ${head}: a loop (more than ${entries} descriptors)`)
      this.#host.readGuest(table + DESC_SIZE * index, this.#scratch)
      const low = this.#view.getUint32(0, true)
      const high = this.#view.getUint32(4, true)
      const length = this.#view.getUint32(8, true)
      const flags = this.#view.getUint16(12, true)
      const next = this.#view.getUint16(14, true)
      if (high !== 0 || low + length > this.#host.memorySize()) {
        this.#broken(`chain ${head}: a buffer of ${length} bytes at 0x${high.toString(16)}${low.toString(16).padStart(8, '0')} lies outside guest memory`)
      }
      if ((flags & DESC_F_INDIRECT) !== 0) {
        if (indirect) this.#broken(`chain ${head}: an indirect table inside an indirect table`)
        if ((flags & DESC_F_NEXT) !== 0) this.#broken(`chain ${head}: an indirect descriptor with NEXT set`)
        if (length === 0 || length % DESC_SIZE !== 0) this.#broken(`chain ${head}: an indirect table of ${length} bytes`)
        // A chain is at most the queue size long (2.7.5.3.1), indirect or not.
        if (length / DESC_SIZE > this.#size) this.#broken(`chain ${head}: an indirect table of ${length / DESC_SIZE} descriptors in a queue of ${this.#size}`)
        indirect = true
        table = low
        entries = length / DESC_SIZE
        index = 0
        seen = -1
        continue
      }
      if ((flags & DESC_F_WRITE) !== 0) writable.push({ address: low, length })
      else if (writable.length > 0) this.#broken(`chain ${head}: a readable buffer after a writable one`)
      else readable.push({ address: low, length })
      if ((flags & DESC_F_NEXT) === 0) return { head, readable, writable }
      index = next
    }
  }

  #checkRing(what: string, address: number, align: number, bytes: number): void {
    if (address % align !== 0) this.#broken(`${what} at 0x${address.toString(16)} is not ${align}-byte aligned`)
    if (address < 0 || address + bytes > this.#host.memorySize()) {
      this.#broken(`${what} at 0x${address.toString(16)} (${bytes} bytes) lies outside guest memory`)
    }
  }

  #u16(address: number): number {
    this.#host.readGuest(address, this.#scratch.subarray(0, 2))
    return this.#view.getUint16(0, true)
  }

  #broken(detail: string): never {
    throw new VirtioError(this.#name, detail)
  }
}
