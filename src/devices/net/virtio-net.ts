// SPDX-License-Identifier: MIT
/**
 * virtio-net.ts - the network device model (virtio 1.x, 5.1) behind the
 * virtio-mmio transport, on a NetBackend.
 *
 * Queue 0 receives, queue 1 transmits, 256 entries each. Offered: MAC, STATUS,
 * MRG_RXBUF and - when the backend carries offload facts (netSwitch does, a
 * plain stream of frames does not) - CSUM, GUEST_CSUM, HOST_TSO4/6 and
 * GUEST_TSO4/6, so a 64 KiB TCP segment crosses from one kernel to another as
 * one frame and nobody computes a checksum on the way. Every buffer starts with
 * the 12-byte virtio_net_hdr (VERSION_1 has num_buffers always).
 *
 * Receive: a frame from the backend goes into the buffers the driver posted
 * (with MRG_RXBUF spread over as many as it takes, else into one chain); with
 * too few posted it waits in a bounded backlog, and once that is full, or while
 * no driver runs, frames are dropped and counted, like a NIC's missed packets.
 * Offload facts the driver did not accept are undone: a partial checksum is
 * finished here; a segment larger than the MTU cannot be, and is dropped
 * (counted as an error).
 *
 * Transmit: each chain is one frame, header then data, copied out when taken,
 * its buffers given back at once (or when the backend has taken the frame, for
 * a backend that pushes back) and handed to the backend. A malformed frame (too
 * short or long, an unknown flag or GSO type, a checksum position outside it,
 * writable buffers) is dropped and counted: the driver's buffers come back, the
 * kernel goes on, nothing traps.
 *
 * Waiting for frames is not I/O in flight: an idle NIC holds no external wait
 * (a frame that arrives raises the interrupt, whose fiber wakes the kernel).
 * Only a transmit the backend has not taken yet is one.
 *
 * Limits: one queue pair, no control queue (no promiscuous or multicast
 * filters: the device takes every frame its backend gives it); no MTU, MQ or
 * UFO/USO.
 *
 * Link: the STATUS field is read live from the backend; a backend whose link
 * changes says so (NetPort.linkChanged) and the transport raises a
 * configuration change interrupt, on which the driver rereads STATUS and turns
 * the carrier on or off.
 */
import type { DeviceHost } from '../../host-ops/runtime.js'
import type { VirtioModel } from '../virtio/mmio.js'
import type { Chain, Segment, SplitQueue } from '../virtio/virtqueue.js'
import {
  type Frame, GSO_NONE, GSO_TCPV4, GSO_TCPV6, HDR_F_NEEDS_CSUM, MAX_FRAME, MIN_FRAME, type Offload,
  finishChecksum,
} from './frame.js'

const VIRTIO_ID_NET = 1
export const F_CSUM = 1n << 0n
export const F_GUEST_CSUM = 1n << 1n
export const F_MAC = 1n << 5n
export const F_GUEST_TSO4 = 1n << 7n
export const F_GUEST_TSO6 = 1n << 8n
export const F_HOST_TSO4 = 1n << 11n
export const F_HOST_TSO6 = 1n << 12n
export const F_MRG_RXBUF = 1n << 15n
export const F_STATUS = 1n << 16n
const S_LINK_UP = 1

/** virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const NET_HDR = 12
export const QUEUE_SIZE = 256
const RX = 0
const TX = 1
/** Frames kept while the driver has no buffers posted; more are dropped. */
export const RX_BACKLOG = 256

/** Where the device's frames go and come from (backends.ts). */
export interface NetBackend {
  /** Whether frames may carry offload facts (partial checksums, segments beyond the MTU) both ways. */
  readonly offloads: boolean
  /** The MAC address the device reports, 6 bytes. */
  readonly mac: Uint8Array
  /** Whether the link is up (the STATUS the driver reads). */
  readonly linkUp: boolean
  /** The device is ready for frames: deliver them to port.receive. Called once. */
  attach(port: NetPort): void
  /**
   * A frame from the kernel. A promise means the backend cannot take more yet:
   * the frame's buffers go back to the driver when it settles.
   */
  send(frame: Frame): void | Promise<void>
  /** Connect (a socket backend) before boot. */
  open(): Promise<void>
  /** Detach and let go (the kernel stopped). */
  close(): Promise<void>
}

/** The device's side, as a backend holds it. */
export interface NetPort {
  receive(frame: Frame): void
  /** linkUp changed while the kernel runs (the peer went away): the driver is told. */
  linkChanged(): void
}

export interface NetStats {
  rxFrames: number
  rxBytes: number
  txFrames: number
  txBytes: number
  /** Frames received while no driver ran or the backlog was full: the NIC's missed packets. */
  rxDropped: number
  /** Frames received that the driver could not take (too big for its buffers, an offload it refused). */
  rxErrors: number
  /** Frames from the kernel that were malformed and dropped. */
  txErrors: number
}

export class VirtioNet implements VirtioModel, NetPort {
  readonly deviceId = VIRTIO_ID_NET
  readonly features: bigint
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE]
  readonly stats: NetStats = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDropped: 0, rxErrors: 0, txErrors: 0 }
  readonly #host: DeviceHost
  readonly #backend: NetBackend
  readonly #negotiated: () => bigint
  readonly #configChanged: () => void
  readonly #config = new DataView(new ArrayBuffer(8))
  /** The receive queue once the driver posted buffers on it; null before, and after a reset. */
  #rxQueue: SplitQueue | null = null
  /** Receive chains taken off the ring, waiting for frames, oldest first. */
  #rxChains: Chain[] = []
  /** Frames waiting for receive buffers, oldest first (copies: a frame is only lent to receive()). */
  #backlog: Frame[] = []
  /** Where a transmitted frame is gathered; lent to the backend for the length of its send(). */
  readonly #txBuffer = new Uint8Array(NET_HDR + MAX_FRAME)

  /**
   * negotiated reads the features the driver accepted (VirtioMmio.negotiated)
   * and configChanged signals a config space change (VirtioMmio.configChanged):
   * the transport is made after its model, so both are called late.
   */
  constructor(host: DeviceHost, backend: NetBackend, negotiated: () => bigint, configChanged: () => void) {
    this.#host = host
    this.#backend = backend
    this.#negotiated = negotiated
    this.#configChanged = configChanged
    if (backend.mac.length !== 6) throw new RangeError(`a MAC address has 6 bytes, not ${backend.mac.length}`)
    const offloads = backend.offloads ? F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_HOST_TSO6 | F_GUEST_TSO4 | F_GUEST_TSO6 : 0n
    this.features = F_MAC | F_STATUS | F_MRG_RXBUF | offloads
    new Uint8Array(this.#config.buffer).set(backend.mac)
    backend.attach(this)
  }

  readConfig(offset: number, width: number): number {
    // The status is read live: at probe, and after each configuration change interrupt.
    this.#config.setUint16(6, this.#backend.linkUp ? S_LINK_UP : 0, true)
    if (offset + width > this.#config.byteLength) return 0
    if (width === 1) return this.#config.getUint8(offset)
    if (width === 2) return this.#config.getUint16(offset, true)
    return this.#config.getUint32(offset, true)
  }

  notify(index: number, queue: SplitQueue): void {
    if (index === RX) {
      this.#rxQueue = queue
      for (let chain = queue.pop(); chain !== null; chain = queue.pop()) this.#rxChains.push(chain)
      this.#drain(queue)
    } else if (index === TX) {
      let returned = false
      for (let chain = queue.pop(); chain !== null; chain = queue.pop()) returned = this.#transmit(queue, chain) || returned
      if (returned) queue.signal()
    }
  }

  reset(): void {
    // The driver let go: its posted buffers and the frames waiting for them are gone.
    this.#rxQueue = null
    this.#rxChains = []
    this.stats.rxDropped += this.#backlog.length
    this.#backlog = []
  }

  linkChanged(): void {
    this.#configChanged()
  }

  /** A frame from the backend, lent for the length of the call. */
  receive(frame: Frame): void {
    const queue = this.#rxQueue
    if (queue === null || !queue.live) {
      this.stats.rxDropped++
      return
    }
    // Frames behind others wait their turn: the order on the wire is kept.
    if (this.#backlog.length === 0) {
      const outcome = this.#deliver(queue, frame)
      if (outcome === 'done') queue.signal()
      if (outcome !== 'wait') return
    }
    if (this.#backlog.length >= RX_BACKLOG) {
      this.stats.rxDropped++
      return
    }
    this.#backlog.push({ data: frame.data.slice(), offload: frame.offload })
  }

  /** Move waiting frames into posted buffers while both last. */
  #drain(queue: SplitQueue): void {
    let delivered = false
    for (let frame = this.#backlog[0]; frame !== undefined; frame = this.#backlog[0]) {
      const outcome = this.#deliver(queue, frame)
      if (outcome === 'wait') break
      this.#backlog.shift()
      delivered ||= outcome === 'done'
    }
    if (delivered) queue.signal()
  }

  /** Put one frame into posted buffers: done, dropped (it can never fit or be taken), or wait for buffers. */
  #deliver(queue: SplitQueue, frame: Frame): 'done' | 'dropped' | 'wait' {
    const features = this.#negotiated()
    const prepared = this.#forDriver(frame, features)
    if (prepared === null) {
      this.stats.rxErrors++
      return 'dropped'
    }
    const { data, offload } = prepared
    const needed = NET_HDR + data.length
    const mergeable = (features & F_MRG_RXBUF) !== 0n
    // How many posted chains the frame takes.
    let count = 0
    let room = 0
    while (room < needed) {
      const chain = this.#rxChains[count]
      if (chain === undefined) break
      room += writableBytes(chain)
      count++
      if (!mergeable) break
    }
    if (room < needed) {
      // Without merging, one chain must hold it; with, even a full ring of these buffers may not.
      if (!mergeable && count > 0) {
        this.stats.rxErrors++
        return 'dropped'
      }
      if (mergeable && this.#rxChains.length > 0 && this.#cannotEverFit(queue, needed)) {
        this.stats.rxErrors++
        return 'dropped'
      }
      return 'wait'
    }
    const header = new DataView(new ArrayBuffer(NET_HDR))
    header.setUint8(0, offload.flags)
    header.setUint8(1, offload.gsoType)
    header.setUint16(2, offload.hdrLen, true)
    header.setUint16(4, offload.gsoSize, true)
    header.setUint16(6, offload.csumStart, true)
    header.setUint16(8, offload.csumOffset, true)
    header.setUint16(10, count, true)
    // Header, then data, poured into the chains' buffers in order (the data is not copied twice).
    const pieces = [new Uint8Array(header.buffer), data]
    let piece = 0
    let from = 0
    for (const chain of this.#rxChains.splice(0, count)) {
      let written = 0
      for (const segment of chain.writable) {
        let offset = 0
        while (offset < segment.length) {
          const source = pieces[piece]
          if (source === undefined) break
          const n = Math.min(segment.length - offset, source.length - from)
          this.#host.writeGuest(segment.address + offset, source.subarray(from, from + n))
          offset += n
          from += n
          if (from === source.length) {
            piece++
            from = 0
          }
        }
        written += offset
      }
      queue.push(chain.head, written)
    }
    this.stats.rxFrames++
    this.stats.rxBytes += data.length
    return 'done'
  }

  /**
   * Whether needed bytes exceed what the whole ring could hold in buffers the
   * size of the smallest posted one: such a frame would wait for ever.
   */
  #cannotEverFit(queue: SplitQueue, needed: number): boolean {
    const smallest = Math.min(...this.#rxChains.map(writableBytes))
    return smallest * queue.size < needed
  }

  /** The frame as this driver may receive it: offloads it refused undone, or null when that cannot be. */
  #forDriver(frame: Frame, features: bigint): Frame | null {
    const { offload } = frame
    if (offload.gsoType === GSO_TCPV4 && (features & F_GUEST_TSO4) === 0n) return null
    if (offload.gsoType === GSO_TCPV6 && (features & F_GUEST_TSO6) === 0n) return null
    if ((features & F_GUEST_CSUM) !== 0n) return frame
    let data = frame.data
    if ((offload.flags & HDR_F_NEEDS_CSUM) !== 0) data = finishChecksum(data, offload.csumStart, offload.csumOffset)
    return { data, offload: { ...offload, flags: 0 } }
  }

  /** Send one chain's frame; true when its buffers went back at once (false: when the backend takes it). */
  #transmit(queue: SplitQueue, chain: Chain): boolean {
    const frame = this.#parse(chain)
    if (frame === null) {
      this.stats.txErrors++
      queue.push(chain.head, 0)
      return true
    }
    this.stats.txFrames++
    this.stats.txBytes += frame.data.length
    const taken = this.#backend.send(frame)
    if (taken === undefined) {
      queue.push(chain.head, 0)
      return true
    }
    const done = this.#host.beginIo()
    void taken.catch(() => undefined).then(() => {
      if (!queue.live) return
      queue.push(chain.head, 0)
      queue.signal()
    }).finally(done)
    return false
  }

  /** A transmit chain as a frame, or null when it is malformed. */
  #parse(chain: Chain): Frame | null {
    if (chain.writable.length > 0) return null
    const total = chain.readable.reduce((sum, s) => sum + s.length, 0)
    if (total < NET_HDR + MIN_FRAME || total > NET_HDR + MAX_FRAME) return null
    const bytes = this.#gather(chain.readable, total)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const flags = view.getUint8(0)
    const gsoType = view.getUint8(1)
    const offload: Offload = {
      flags, gsoType,
      hdrLen: view.getUint16(2, true),
      gsoSize: view.getUint16(4, true),
      csumStart: view.getUint16(6, true),
      csumOffset: view.getUint16(8, true),
    }
    const data = bytes.subarray(NET_HDR)
    const features = this.#negotiated()
    // A transmitted frame may only ask for what the driver accepted: a partial checksum (CSUM), TSO (HOST_TSO4/6).
    if ((flags & ~HDR_F_NEEDS_CSUM) !== 0) return null
    if ((flags & HDR_F_NEEDS_CSUM) !== 0) {
      if ((features & F_CSUM) === 0n) return null
      if (offload.csumStart + offload.csumOffset + 2 > data.length) return null
    }
    if (gsoType !== GSO_NONE) {
      const allowed = gsoType === GSO_TCPV4 ? F_HOST_TSO4 : gsoType === GSO_TCPV6 ? F_HOST_TSO6 : 0n
      if (allowed === 0n || (features & allowed) === 0n) return null
      if (offload.gsoSize === 0 || (flags & HDR_F_NEEDS_CSUM) === 0) return null
    }
    return { data, offload }
  }

  /** The first total bytes of segments, in the transmit buffer. */
  #gather(segments: readonly Segment[], total: number): Uint8Array {
    const bytes = this.#txBuffer.subarray(0, total)
    let at = 0
    for (const segment of segments) {
      this.#host.readGuest(segment.address, bytes.subarray(at, at + segment.length))
      at += segment.length
    }
    return bytes
  }
}

function writableBytes(chain: Chain): number {
  return chain.writable.reduce((sum, s) => sum + s.length, 0)
}
