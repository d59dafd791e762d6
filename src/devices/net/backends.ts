// SPDX-License-Identifier: MIT
/**
 * backends.ts - where a kernel's virtio-net frames go:
 *   netSwitch()           an in-process learning switch; any number of kernels
 *                         of this process plug into one with nic(sw, { mac? });
 *   streamSocket(target)  Ethernet frames over a Node socket (a unix socket path
 *                         or host:port), each preceded by its length as 4 bytes
 *                         big-endian: QEMU's stream netdev format, which passt
 *                         speaks.
 *
 * The switch moves frames between kernels as they are, with their offload facts
 * (partial checksums, 64 KiB TCP segments), synchronously: a frame one kernel
 * transmits is in the other's receive buffers before the transmit returns, and
 * the receiver's interrupt runs on its own fiber later. It learns source MACs
 * per port and floods broadcasts and unknown destinations; a port that leaves
 * takes its MACs with it. A stream socket carries plain frames (no offloads: the
 * kernel checksums and segments itself). A frame the socket cannot take yet
 * holds its transmit buffers until the socket drains; a length prefix out of
 * range means the stream is lost: the socket is closed, counted, and the link
 * goes down. A stream that ends while the kernel runs (the peer went away, or
 * a malformed length) takes the link down and tells the driver, which turns the
 * carrier off.
 *
 * Limits: MACs made up here are unique within the process (02:75:6b:…,
 * locally administered), not across processes - give one when frames leave
 * it. No VLANs, no spanning tree (a switch has no other switches on it), no
 * ageing of learned MACs.
 */
import net from 'node:net'
import { type Frame, MAX_FRAME, MIN_FRAME, NO_OFFLOAD } from './frame.js'
import type { NetBackend, NetPort } from './virtio-net.js'

/** A MAC as 'aa:bb:cc:dd:ee:ff' or 6 bytes. */
export type MacAddress = string | Uint8Array

let madeUp = 0

/** A locally administered unicast MAC, unique in this process: 02:75:6b ("uk") then a counter. */
export function nextMac(): Uint8Array {
  madeUp++
  if (madeUp > 0xff_ffff) throw new RangeError('no more made-up MAC addresses in this process')
  return Uint8Array.of(0x02, 0x75, 0x6b, (madeUp >> 16) & 0xff, (madeUp >> 8) & 0xff, madeUp & 0xff)
}

/** 6 bytes of a unicast MAC from either form. */
export function parseMac(mac: MacAddress): Uint8Array {
  let bytes: Uint8Array
  if (typeof mac === 'string') {
    const parts = mac.split(':')
    if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new TypeError(`not a MAC address: ${JSON.stringify(mac)}`)
    bytes = Uint8Array.from(parts, (p) => Number.parseInt(p, 16))
  } else {
    if (mac.length !== 6) throw new TypeError(`a MAC address has 6 bytes, not ${mac.length}`)
    bytes = Uint8Array.from(mac)
  }
  // The group bit: a NIC's own address is never multicast.
  if (((bytes[0] ?? 0) & 1) !== 0) throw new TypeError(`${formatMac(bytes)} is a multicast address, not a NIC's`)
  return bytes
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':')
}

/** The 48 bits of the MAC at offset of data, as a number (a map key). */
function macKey(data: Uint8Array, offset: number): number {
  let key = 0
  for (let i = 0; i < 6; i++) key = key * 256 + (data[offset + i] ?? 0)
  return key
}

export interface SwitchStats {
  /** Frames sent to the one port that owns their destination. */
  unicast: number
  /** Frames sent to every other port (broadcast, multicast, an unknown destination). */
  flooded: number
  /** Frames whose destination is the port they came from. */
  dropped: number
}

export class NetSwitch {
  readonly stats: SwitchStats = { unicast: 0, flooded: 0, dropped: 0 }
  readonly #ports = new Set<SwitchNic>()
  readonly #learned = new Map<number, SwitchNic>()

  /** The NICs plugged in now. */
  get ports(): number {
    return this.#ports.size
  }

  /** @internal A NIC joins (its kernel boots). */
  join(port: SwitchNic): void {
    this.#ports.add(port)
  }

  /** @internal A NIC leaves (its kernel stopped): it and the MACs learned on it are forgotten. */
  leave(port: SwitchNic): void {
    this.#ports.delete(port)
    for (const [mac, owner] of this.#learned) if (owner === port) this.#learned.delete(mac)
  }

  /** @internal A frame from port: learn its source, pass it on. */
  forward(from: SwitchNic, frame: Frame): void {
    if (!this.#ports.has(from)) return
    const data = frame.data
    this.#learned.set(macKey(data, 6), from)
    if (((data[0] ?? 0) & 1) === 0) {
      const to = this.#learned.get(macKey(data, 0))
      if (to === from) {
        this.stats.dropped++
        return
      }
      if (to !== undefined) {
        this.stats.unicast++
        to.deliver(frame)
        return
      }
    }
    this.stats.flooded++
    for (const port of this.#ports) if (port !== from) port.deliver(frame)
  }
}

/** One kernel's NIC on a NetSwitch. */
class SwitchNic implements NetBackend {
  readonly offloads = true
  readonly mac: Uint8Array
  readonly #switch: NetSwitch
  #port: NetPort | null = null
  #state: 'new' | 'open' | 'closed' = 'new'

  constructor(sw: NetSwitch, mac: Uint8Array) {
    this.#switch = sw
    this.mac = mac
  }

  get linkUp(): boolean {
    return this.#state === 'open'
  }

  attach(port: NetPort): void {
    if (this.#port !== null) throw new TypeError('this NIC is plugged into a kernel already; make one nic() per kernel')
    this.#port = port
  }

  send(frame: Frame): void {
    if (this.#state === 'open') this.#switch.forward(this, frame)
  }

  deliver(frame: Frame): void {
    this.#port?.receive(frame)
  }

  async open(): Promise<void> {
    if (this.#state !== 'new') throw new TypeError(`this NIC was ${this.#state === 'open' ? 'opened' : 'closed'} already; make one nic() per kernel`)
    this.#state = 'open'
    this.#switch.join(this)
  }

  async close(): Promise<void> {
    this.#state = 'closed'
    this.#switch.leave(this)
  }
}

/** An in-process learning switch: plug kernels into it with nic(sw). */
export function netSwitch(): NetSwitch {
  return new NetSwitch()
}

export interface NicOptions {
  /** The NIC's MAC; a made-up one, unique in this process, by default. */
  mac?: MacAddress
}

/** A NIC on switch sw, for startKernel({ nics: [...] }); one per kernel. */
export function nic(sw: NetSwitch, options: NicOptions = {}): NetBackend {
  return new SwitchNic(sw, options.mac === undefined ? nextMac() : parseMac(options.mac))
}

export interface StreamSocketStats {
  /** Length prefixes out of range: each ended the stream. */
  malformed: number
  /** Frames sent while the socket was gone. */
  txLost: number
  /** Why the socket ended, when it did by error. */
  lastError: Error | null
}

/** Where a stream socket connects: a unix socket path, or host:port for TCP. */
function connectOptions(target: string): net.NetConnectOpts {
  const match = /^(.*):(\d+)$/.exec(target)
  if (match !== null && !target.includes('/')) {
    const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1')
    return { host: host === '' ? '127.0.0.1' : host, port: Number(match[2]) }
  }
  return { path: target }
}

class StreamSocketNic implements NetBackend {
  readonly offloads = false
  readonly mac: Uint8Array
  readonly stats: StreamSocketStats = { malformed: 0, txLost: 0, lastError: null }
  readonly #target: string
  #socket: net.Socket | null = null
  #port: NetPort | null = null
  #up = false
  /** Bytes received and not yet a whole frame. */
  #pending: Buffer = Buffer.alloc(0)
  /** Settles when the socket drains; transmits wait on it meanwhile. */
  #drained: Promise<void> | null = null

  constructor(target: string, mac: Uint8Array) {
    this.#target = target
    this.mac = mac
  }

  get linkUp(): boolean {
    return this.#up
  }

  attach(port: NetPort): void {
    if (this.#port !== null) throw new TypeError('this stream socket is plugged into a kernel already')
    this.#port = port
  }

  open(): Promise<void> {
    if (this.#socket !== null) return Promise.reject(new TypeError('this stream socket was opened already; make one per kernel'))
    return new Promise((resolve, reject) => {
      const socket = net.connect(connectOptions(this.#target))
      this.#socket = socket
      socket.setNoDelay(true)
      socket.once('error', reject)
      socket.once('connect', () => {
        socket.off('error', reject)
        this.#up = true
        socket.on('data', (chunk: Buffer) => this.#data(chunk))
        socket.on('error', (error) => {
          this.stats.lastError = error
        })
        socket.on('close', () => {
          // close() took the link down itself, for a kernel that is stopping: nobody to tell then.
          if (!this.#up) return
          this.#up = false
          this.#port?.linkChanged()
        })
        resolve()
      })
    })
  }

  send(frame: Frame): void | Promise<void> {
    const socket = this.#socket
    if (!this.#up || socket === null) {
      this.stats.txLost++
      return
    }
    // One copy with its length in front: the frame is only lent to send().
    const bytes = Buffer.allocUnsafe(4 + frame.data.length)
    bytes.writeUInt32BE(frame.data.length, 0)
    bytes.set(frame.data, 4)
    if (socket.write(bytes)) return this.#drained ?? undefined
    this.#drained ??= new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done)
        socket.off('close', done)
        this.#drained = null
        resolve()
      }
      socket.on('drain', done)
      socket.on('close', done)
    })
    return this.#drained
  }

  async close(): Promise<void> {
    const socket = this.#socket
    this.#up = false
    if (socket === null || socket.destroyed) return
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve())
      socket.destroy()
    })
  }

  /** Cut the byte stream into frames. */
  #data(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    let at = 0
    while (this.#pending.length - at >= 4) {
      const length = this.#pending.readUInt32BE(at)
      if (length < MIN_FRAME || length > MAX_FRAME) {
        // No way to find the next frame in the stream: it is lost.
        this.stats.malformed++
        this.stats.lastError = new RangeError(`a frame of ${length} bytes from ${this.#target}`)
        this.#up = false
        this.#port?.linkChanged()
        this.#socket?.destroy()
        this.#pending = Buffer.alloc(0)
        return
      }
      if (this.#pending.length - at - 4 < length) break
      const data = this.#pending.subarray(at + 4, at + 4 + length)
      at += 4 + length
      this.#port?.receive({ data, offload: NO_OFFLOAD })
    }
    this.#pending = this.#pending.subarray(at)
  }
}

export interface StreamSocketOptions {
  /** The NIC's MAC; a made-up one, unique in this process, by default. */
  mac?: MacAddress
}

/**
 * A NIC whose frames go over a stream socket, each preceded by its length (4
 * bytes, big-endian): target is a unix socket path or host:port. Connected when
 * the kernel starts, closed when it stops.
 */
export function streamSocket(target: string, options: StreamSocketOptions = {}): NetBackend & { readonly stats: StreamSocketStats } {
  return new StreamSocketNic(target, options.mac === undefined ? nextMac() : parseMac(options.mac))
}
