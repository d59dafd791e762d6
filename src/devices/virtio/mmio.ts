// SPDX-License-Identifier: MIT
/**
 * mmio.ts - the virtio-mmio transport, version 2 (virtio 1.x, 4.2.2): the
 * register file a device model sits behind. It negotiates features, keeps the
 * device status, builds a SplitQueue for each queue the driver makes ready,
 * passes queue notifications to the model and raises the interrupt for it.
 *
 * A model (virtio-blk, virtio-net) says what it is (device id, features, queue
 * sizes, config space) and what to do when a queue is notified; the transport
 * does the rest. Notifications arrive inside a host op that may not block, so a
 * model must only start its work there and complete it later.
 *
 * A model whose config space changes (virtio-net's link status) calls
 * configChanged(): the config generation moves on and, once the driver runs, a
 * configuration change interrupt tells it to reread the space (4.2.2.1).
 *
 * Limits: split rings only; no shared memory regions; a reset drops the queues
 * and the model must drop the requests it still has in flight (their queues are
 * retired).
 */
import { VirtioError } from '../../errors.js'
import type { DeviceHost, DeviceRegisters } from '../../host-ops/runtime.js'
import { SplitQueue } from './virtqueue.js'

/** VIRTIO_F_VERSION_1: a modern device (the only kind this transport is). */
export const VIRTIO_F_VERSION_1 = 1n << 32n
/** VIRTIO_RING_F_INDIRECT_DESC: the walker follows indirect tables. */
export const VIRTIO_F_INDIRECT_DESC = 1n << 28n

const MAGIC = 0x74726976 // "virt"
const VENDOR = 0x554b4c4b // "UKLK", ours
const CONFIG_OFFSET = 0x100
/** The window the runtime maps for a device: registers, then config space. */
export const MMIO_WINDOW = 0x200

const STATUS_FEATURES_OK = 8
const STATUS_DRIVER_OK = 4
const STATUS_NEEDS_RESET = 64
const INTERRUPT_USED = 1
const INTERRUPT_CONFIG = 2

export interface VirtioModel {
  readonly deviceId: number
  /** Device features (VERSION_1 and INDIRECT_DESC are added by the transport). */
  readonly features: bigint
  /** The largest size of each queue. */
  readonly queueSizes: readonly number[]
  /** Read width bytes of the config space at offset (little-endian). */
  readConfig(offset: number, width: number): number
  /** The driver made buffers available on queue index. Must not block. */
  notify(index: number, queue: SplitQueue): void
  /** The driver reset the device: forget requests in flight (their queues are retired already). */
  reset(): void
}

interface QueueSetup {
  size: number
  desc: number
  avail: number
  used: number
  ready: SplitQueue | null
}

export class VirtioMmio implements DeviceRegisters {
  readonly #host: DeviceHost
  readonly #name: string
  readonly #model: VirtioModel
  readonly #features: bigint
  #status = 0
  #deviceFeaturesSel = 0
  #driverFeaturesSel = 0
  #driverFeatures = 0n
  #queueSel = 0
  #queues: QueueSetup[]
  #interruptStatus = 0
  /** An interrupt is on its way and has not been read yet: later completions ride on it. */
  #irqInFlight = false
  /** Bumped on every config space change: the driver rereads until two reads agree. */
  #configGeneration = 0

  constructor(host: DeviceHost, name: string, model: VirtioModel) {
    this.#host = host
    this.#name = name
    this.#model = model
    this.#features = model.features | VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC
    this.#queues = this.#freshQueues()
  }

  /** The features both sides agreed on (valid once the driver set FEATURES_OK). */
  get negotiated(): bigint {
    return this.#driverFeatures
  }

  /** Tell the driver that a queue has used buffers (one interrupt per batch). */
  #interrupt(queue: SplitQueue): void {
    this.#interruptStatus |= INTERRUPT_USED
    if (this.#irqInFlight || !queue.wantsInterrupt()) return
    this.#irqInFlight = true
    this.#host.raiseIrq()
  }

  /**
   * The model's config space changed: a new generation, and a configuration
   * change interrupt once the driver runs (before DRIVER_OK it reads the space
   * anyway). An interrupt already on its way carries the bit too.
   */
  configChanged(): void {
    this.#configGeneration = (this.#configGeneration + 1) >>> 0
    if ((this.#status & STATUS_DRIVER_OK) === 0) return
    this.#interruptStatus |= INTERRUPT_CONFIG
    if (this.#irqInFlight) return
    this.#irqInFlight = true
    this.#host.raiseIrq()
  }

  read(offset: number, width: number): number {
    if (offset >= CONFIG_OFFSET) return this.#model.readConfig(offset - CONFIG_OFFSET, width)
    if (width !== 4) throw this.#error(`a ${width}-byte read of register 0x${offset.toString(16)}`)
    const queue = this.#queues[this.#queueSel]
    switch (offset) {
      case 0x000: return MAGIC
      case 0x004: return 2
      case 0x008: return this.#model.deviceId
      case 0x00c: return VENDOR
      case 0x010: return this.#deviceFeaturesSel > 1 ? 0 : Number((this.#features >> BigInt(32 * this.#deviceFeaturesSel)) & 0xffff_ffffn)
      case 0x034: return queue === undefined ? 0 : (this.#model.queueSizes[this.#queueSel] ?? 0)
      case 0x044: return queue?.ready === null || queue === undefined ? 0 : 1
      case 0x060:
        // The handler reads this first: whatever completes after needs an interrupt of its own.
        this.#irqInFlight = false
        return this.#interruptStatus
      case 0x070: return this.#status
      case 0x0b0: case 0x0b4: return 0xffff_ffff // no shared memory region
      case 0x0fc: return this.#configGeneration
      default: return 0
    }
  }

  write(offset: number, width: number, value: number): void {
    if (offset >= CONFIG_OFFSET) return // the config space is read-only here
    if (width !== 4) throw this.#error(`a ${width}-byte write of register 0x${offset.toString(16)}`)
    const queue = this.#queues[this.#queueSel]
    switch (offset) {
      case 0x014: this.#deviceFeaturesSel = value; return
      case 0x020: this.#setDriverFeatures(value); return
      case 0x024: this.#driverFeaturesSel = value; return
      case 0x030: this.#queueSel = value; return
      case 0x038: if (queue !== undefined) queue.size = value; return
      case 0x044: if (queue !== undefined) this.#setReady(this.#queueSel, queue, value); return
      case 0x050: this.#notify(value); return
      case 0x064: this.#interruptStatus &= ~value; return
      case 0x070: this.#setStatus(value); return
      case 0x080: if (queue !== undefined) queue.desc = value; return
      case 0x090: if (queue !== undefined) queue.avail = value; return
      case 0x0a0: if (queue !== undefined) queue.used = value; return
      // The high halves of ring addresses: wasm32 memory ends below 4 GiB.
      case 0x084: case 0x094: case 0x0a4:
        if (value !== 0) throw this.#error(`a ring address above 4 GiB (high word 0x${value.toString(16)})`)
        return
      default: return
    }
  }

  #setDriverFeatures(value: number): void {
    if (this.#driverFeaturesSel > 1) return
    const shift = BigInt(32 * this.#driverFeaturesSel)
    this.#driverFeatures = (this.#driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(value >>> 0) << shift)
  }

  #setStatus(value: number): void {
    if (value === 0) {
      this.#reset()
      return
    }
    let status = value
    // FEATURES_OK only sticks for a subset of what we offer that includes VERSION_1.
    if ((status & STATUS_FEATURES_OK) !== 0 && (this.#status & STATUS_FEATURES_OK) === 0) {
      const acceptable = (this.#driverFeatures & ~this.#features) === 0n && (this.#driverFeatures & VIRTIO_F_VERSION_1) !== 0n
      if (!acceptable) status &= ~STATUS_FEATURES_OK
    }
    this.#status = status
  }

  #setReady(index: number, queue: QueueSetup, value: number): void {
    if (value === 0) {
      queue.ready?.retire()
      queue.ready = null
      return
    }
    const max = this.#model.queueSizes[index] ?? 0
    if (queue.size < 1 || queue.size > max) throw this.#error(`queue ${index} made ready with size ${queue.size} (max ${max})`)
    queue.ready = new SplitQueue(this.#host, `${this.#name} queue ${index}`, queue.size, queue, (q) => this.#interrupt(q))
  }

  #notify(index: number): void {
    if ((this.#status & STATUS_DRIVER_OK) === 0 || (this.#status & STATUS_NEEDS_RESET) !== 0) return
    const ready = this.#queues[index]?.ready
    if (ready === null || ready === undefined) throw this.#error(`notify of queue ${index}, which is not ready`)
    this.#model.notify(index, ready)
  }

  #reset(): void {
    for (const queue of this.#queues) queue.ready?.retire()
    this.#model.reset()
    this.#status = 0
    this.#driverFeatures = 0n
    this.#deviceFeaturesSel = 0
    this.#driverFeaturesSel = 0
    this.#queueSel = 0
    this.#interruptStatus = 0
    this.#irqInFlight = false
    this.#queues = this.#freshQueues()
  }

  #freshQueues(): QueueSetup[] {
    return this.#model.queueSizes.map(() => ({ size: 0, desc: 0, avail: 0, used: 0, ready: null }))
  }

  #error(detail: string): VirtioError {
    return new VirtioError(this.#name, detail)
  }
}
