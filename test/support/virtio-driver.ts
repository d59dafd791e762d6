// SPDX-License-Identifier: MIT
/**
 * virtio-driver.ts - the driver's half of virtio, for testing device models
 * without a kernel:
 *   FakeGuest    guest memory in a plain ArrayBuffer behind the DeviceHost
 *                interface, counting interrupts and host I/O in flight;
 *   DriverRing   a split virtqueue laid out as the virtio 1.x spec says (2.7: a
 *                table of 16-byte descriptors, the available ring, the used ring)
 *                and filled the way a driver fills it - or, on request, wrongly;
 *   MmioDriver   a virtio-mmio device brought up through its registers (4.2.3.1);
 *   blkRequest   a virtio-blk request (5.2.6): header, data, status byte.
 *
 * Written from the spec, not from the device code it tests, so the two can
 * disagree. FakeGuest's copies throw GuestRangeError outside memory (a device
 * that relies on them instead of checking descriptors shows up as the wrong
 * error), and give up after a budget of reads (a walk that never ends shows up
 * as an error, not a hung test).
 *
 * Limits: little-endian hosts; one bump allocator that never frees; descriptors
 * are handed out round-robin, so a ring must not hold more chains than fit.
 */
import type { DeviceHost, DeviceRegisters } from '../../src/host-ops/runtime.js'

export const DESC_F_NEXT = 1
export const DESC_F_WRITE = 2
export const DESC_F_INDIRECT = 4
export const AVAIL_F_NO_INTERRUPT = 1

/** A guest copy outside guest memory: the device trusted an address it should have checked. */
export class GuestRangeError extends Error {
  override name = 'GuestRangeError'
}

/** Far more reads than any test's device needs; only a walk that never ends gets there. */
const READ_BUDGET = 4_000_000

export class FakeGuest implements DeviceHost {
  readonly bytes: Uint8Array
  readonly view: DataView
  /** Interrupts the device raised. */
  irqs = 0
  /** Host I/O begun and not yet ended. */
  ioPending = 0
  /** Errors the device stopped the runtime with. */
  readonly failures: Error[] = []
  /** Every write into guest memory, in order. */
  readonly writes: { address: number, length: number }[] = []
  #reads = 0
  #readBudget: number
  #free: number

  /** size bytes of guest memory; the allocator starts at 4 KiB, so address 0 is never a buffer. */
  constructor(size: number, readBudget = READ_BUDGET) {
    this.bytes = new Uint8Array(size)
    this.view = new DataView(this.bytes.buffer)
    this.#free = 4096
    this.#readBudget = readBudget
  }

  memorySize(): number {
    return this.bytes.length
  }

  readGuest(address: number, into: Uint8Array): void {
    this.#check('read', address, into.length)
    if (++this.#reads > this.#readBudget) throw new Error(`more than ${this.#readBudget} guest reads: a walk that never ends`)
    into.set(this.bytes.subarray(address, address + into.length))
  }

  writeGuest(address: number, bytes: Uint8Array): void {
    this.#check('write', address, bytes.length)
    this.writes.push({ address, length: bytes.length })
    this.bytes.set(bytes, address)
  }

  raiseIrq(): void {
    this.irqs++
  }

  beginIo(): () => void {
    this.ioPending++
    let ended = false
    return () => {
      if (ended) throw new Error('an I/O ended twice')
      ended = true
      this.ioPending--
    }
  }

  fail(error: Error): void {
    this.failures.push(error)
  }

  /** length bytes of fresh memory aligned to align. */
  alloc(length: number, align = 16): number {
    const address = Math.ceil(this.#free / align) * align
    if (address + length > this.bytes.length) throw new Error(`FakeGuest: no room for ${length} bytes`)
    this.#free = address + length
    return address
  }

  /** A fresh buffer holding bytes. */
  place(bytes: Uint8Array, align = 16): number {
    const address = this.alloc(bytes.length, align)
    this.bytes.set(bytes, address)
    return address
  }

  #check(op: string, address: number, length: number): void {
    if (!Number.isInteger(address) || address < 0 || address + length > this.bytes.length) {
      throw new GuestRangeError(`guest ${op} of ${length} bytes at 0x${address.toString(16)} outside ${this.bytes.length} bytes`)
    }
  }
}

/** A descriptor as the driver writes it. */
export interface Descriptor {
  address: number
  length: number
  flags: number
  next?: number
  /** The high 32 bits of the address (0 unless a test wants them set). */
  high?: number
}

/** A buffer of a chain: the device reads it, or (write) writes it. */
export interface DriverBuffer {
  address: number
  length: number
  write?: boolean | undefined
}

export interface RingLayout {
  desc: number
  avail: number
  used: number
}

/** The driver's view of one split virtqueue in a FakeGuest. */
export class DriverRing {
  readonly rings: RingLayout
  #availIdx = 0
  #nextDesc = 0
  #usedSeen = 0

  /** A ring of size entries at the given addresses, or at fresh, aligned ones (2.7: 16, 2, 4). */
  constructor(readonly guest: FakeGuest, readonly size: number, at?: RingLayout) {
    this.rings = at ?? {
      desc: guest.alloc(16 * size, 16),
      avail: guest.alloc(6 + 2 * size, 2),
      used: guest.alloc(6 + 8 * size, 4),
    }
  }

  /** Write descriptor index of table (the ring's own table by default). */
  setDesc(index: number, d: Descriptor, table = this.rings.desc): void {
    const at = table + 16 * index
    const view = this.guest.view
    view.setUint32(at, d.address, true)
    view.setUint32(at + 4, d.high ?? 0, true)
    view.setUint32(at + 8, d.length, true)
    view.setUint16(at + 12, d.flags, true)
    view.setUint16(at + 14, d.next ?? 0, true)
  }

  /** Put head in the available ring and publish it (the entry first, then the index). */
  offer(head: number): void {
    this.guest.view.setUint16(this.rings.avail + 4 + 2 * (this.#availIdx % this.size), head, true)
    this.setAvailIdx((this.#availIdx + 1) & 0xffff)
  }

  /** Set the available index the device sees (it need not be honest). */
  setAvailIdx(idx: number): void {
    this.#availIdx = idx & 0xffff
    this.guest.view.setUint16(this.rings.avail + 2, this.#availIdx, true)
  }

  setAvailFlags(flags: number): void {
    this.guest.view.setUint16(this.rings.avail, flags, true)
  }

  /** Lay buffers out as one chain in the ring's table, offer it, return its head. */
  chain(buffers: readonly DriverBuffer[]): number {
    if (buffers.length === 0 || buffers.length > this.size) throw new Error(`DriverRing: a chain of ${buffers.length} in a ring of ${this.size}`)
    const indices = buffers.map((_, i) => (this.#nextDesc + i) % this.size)
    this.#nextDesc = (this.#nextDesc + buffers.length) % this.size
    buffers.forEach((b, i) => {
      const last = i === buffers.length - 1
      this.setDesc(indices[i] ?? 0, {
        address: b.address, length: b.length,
        flags: (b.write === true ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT),
        next: last ? 0 : indices[i + 1] ?? 0,
      })
    })
    const head = indices[0] ?? 0
    this.offer(head)
    return head
  }

  /** Lay buffers out in an indirect table (a fresh one), offer one descriptor pointing at it, return its head. */
  indirect(buffers: readonly DriverBuffer[]): number {
    const table = this.guest.alloc(16 * buffers.length, 16)
    buffers.forEach((b, i) => {
      const last = i === buffers.length - 1
      this.setDesc(i, {
        address: b.address, length: b.length,
        flags: (b.write === true ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT),
        next: last ? 0 : i + 1,
      }, table)
    })
    const head = this.#nextDesc
    this.#nextDesc = (this.#nextDesc + 1) % this.size
    this.setDesc(head, { address: table, length: 16 * buffers.length, flags: DESC_F_INDIRECT })
    this.offer(head)
    return head
  }

  get usedIdx(): number {
    return this.guest.view.getUint16(this.rings.used + 2, true)
  }

  /** Used element i (counted from 0 over the life of the ring). */
  usedElem(i: number): { id: number, len: number } {
    const at = this.rings.used + 4 + 8 * (i % this.size)
    return { id: this.guest.view.getUint32(at, true), len: this.guest.view.getUint32(at + 4, true) }
  }

  /** The used elements published since the last call. */
  takeUsed(): { id: number, len: number }[] {
    const taken: { id: number, len: number }[] = []
    for (; this.#usedSeen !== this.usedIdx; this.#usedSeen = (this.#usedSeen + 1) & 0xffff) taken.push(this.usedElem(this.#usedSeen))
    return taken
  }
}

// virtio-mmio registers (4.2.2), byte offsets.
export const REG = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const

// Device status bits (2.1).
export const STATUS = { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, NEEDS_RESET: 64 } as const

export const F_VERSION_1 = 1n << 32n
export const F_INDIRECT_DESC = 1n << 28n

/** A virtio-mmio device driven through its registers. */
export class MmioDriver {
  constructor(readonly device: DeviceRegisters, readonly guest: FakeGuest) {}

  read(offset: number): number {
    return this.device.read(offset, 4)
  }

  write(offset: number, value: number): void {
    this.device.write(offset, 4, value)
  }

  get status(): number {
    return this.read(REG.Status)
  }

  /** The 64 feature bits the device offers. */
  deviceFeatures(): bigint {
    this.write(REG.DeviceFeaturesSel, 0)
    const low = BigInt(this.read(REG.DeviceFeatures) >>> 0)
    this.write(REG.DeviceFeaturesSel, 1)
    return (BigInt(this.read(REG.DeviceFeatures) >>> 0) << 32n) | low
  }

  /**
   * Reset, acknowledge, accept features and ask for FEATURES_OK (3.1.1 steps 1-6);
   * true when the device kept FEATURES_OK set.
   */
  negotiate(features: bigint): boolean {
    this.write(REG.Status, 0)
    this.write(REG.Status, STATUS.ACKNOWLEDGE)
    this.write(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER)
    this.write(REG.DriverFeaturesSel, 0)
    this.write(REG.DriverFeatures, Number(features & 0xffff_ffffn))
    this.write(REG.DriverFeaturesSel, 1)
    this.write(REG.DriverFeatures, Number((features >> 32n) & 0xffff_ffffn))
    this.write(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK)
    return (this.status & STATUS.FEATURES_OK) !== 0
  }

  /** Give queue index a ring of size entries and make it ready (4.2.3.2). */
  setupQueue(index: number, size: number, ring = new DriverRing(this.guest, size)): DriverRing {
    this.write(REG.QueueSel, index)
    this.write(REG.QueueNum, size)
    this.write(REG.QueueDescLow, ring.rings.desc)
    this.write(REG.QueueDescHigh, 0)
    this.write(REG.QueueDriverLow, ring.rings.avail)
    this.write(REG.QueueDriverHigh, 0)
    this.write(REG.QueueDeviceLow, ring.rings.used)
    this.write(REG.QueueDeviceHigh, 0)
    this.write(REG.QueueReady, 1)
    return ring
  }

  /** The whole bring-up: every offered feature, queue 0 of size entries, DRIVER_OK. */
  start(size: number): DriverRing {
    if (!this.negotiate(this.deviceFeatures())) throw new Error('the device refused the features it offered')
    const ring = this.setupQueue(0, size)
    this.write(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK)
    return ring
  }

  notify(queue = 0): void {
    this.write(REG.QueueNotify, queue)
  }

  /** What an interrupt handler does: read InterruptStatus, acknowledge it; returns the bits. */
  acknowledge(): number {
    const bits = this.read(REG.InterruptStatus)
    this.write(REG.InterruptACK, bits)
    return bits
  }
}

// virtio-blk (5.2.6).
export const BLK = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8 } as const
export const BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const
/** What the driver leaves in a status byte: a device that never wrote it is visible. */
export const STATUS_UNWRITTEN = 0xee

export interface BlkRequestOptions {
  /** OUT: the data, in one readable buffer per array. */
  out?: readonly Uint8Array[]
  /** IN, GET_ID: lengths of the writable data buffers. */
  into?: readonly number[]
  /** Leave the status byte out (a malformed request). */
  noStatus?: boolean
  /** Split the 16-byte header over two buffers of 8. */
  splitHeader?: boolean
  /** Put the chain in an indirect table. */
  indirect?: boolean
}

export interface BlkRequest {
  head: number
  /** Addresses of the writable data buffers, in order. */
  data: number[]
  /** Address of the status byte (-1 without one). */
  status: number
}

/** Build a virtio-blk request in fresh guest buffers and offer it on ring. */
export function blkRequest(ring: DriverRing, type: number, sector: bigint, options: BlkRequestOptions = {}): BlkRequest {
  const guest = ring.guest
  const header = new Uint8Array(16)
  const view = new DataView(header.buffer)
  view.setUint32(0, type, true)
  view.setBigUint64(8, sector, true)
  const buffers: DriverBuffer[] = []
  if (options.splitHeader === true) {
    buffers.push({ address: guest.place(header.subarray(0, 8)), length: 8 })
    buffers.push({ address: guest.place(header.subarray(8)), length: 8 })
  } else {
    buffers.push({ address: guest.place(header), length: 16 })
  }
  for (const bytes of options.out ?? []) buffers.push({ address: guest.place(bytes), length: bytes.length })
  const data: number[] = []
  for (const length of options.into ?? []) {
    const address = guest.alloc(length)
    data.push(address)
    buffers.push({ address, length, write: true })
  }
  let status = -1
  if (options.noStatus !== true) {
    status = guest.place(Uint8Array.of(STATUS_UNWRITTEN), 1)
    buffers.push({ address: status, length: 1, write: true })
  }
  const head = options.indirect === true ? ring.indirect(buffers) : ring.chain(buffers)
  return { head, data, status }
}
