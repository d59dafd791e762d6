// SPDX-License-Identifier: MIT
/**
 * virtio-net.test.ts - the virtio-net device without a kernel, driven through
 * virtio-mmio by the spec-written driver of test/support/virtio-driver.ts over
 * a plain ArrayBuffer: what it offers, frames each way with their
 * virtio_net_hdr (5.1.6), receive buffers merged (MRG_RXBUF) or not, drop
 * accounting when no buffers are posted, malformed transmits dropped and
 * counted (never a trap, a VirtioError or a stuck ring), offloads undone for a
 * driver that refused them; then the backends: the learning switch and the
 * length-prefixed stream socket against a Node net server; and k.net's
 * address text, against the WHATWG URL parser's IPv6 serialization.
 */
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatMac, netSwitch, nic, parseMac, streamSocket } from '../../src/devices/net/backends.js'
import { type Frame, NO_OFFLOAD, type Offload } from '../../src/devices/net/frame.js'
import {
  F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_HOST_TSO4, F_MAC, F_MRG_RXBUF, F_STATUS, NET_HDR, type NetBackend, type NetPort,
  RX_BACKLOG, VirtioNet,
} from '../../src/devices/net/virtio-net.js'
import { VirtioMmio } from '../../src/devices/virtio/mmio.js'
import { decodeSockaddr, encodeSockaddr, formatIp, parseIp, parsePrefix } from '../../src/net/address.js'
import { type DriverRing, F_VERSION_1, FakeGuest, MmioDriver, REG, STATUS } from '../support/virtio-driver.js'

const MEMORY = 8 * 1024 * 1024
const MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x42)

/** A backend that records what the device sends and lets the test deliver frames. */
class TestBackend implements NetBackend {
  readonly mac = MAC
  readonly sent: Frame[] = []
  port: NetPort | null = null
  linkUp = true
  /** When set, send() returns it (the backend pushes back). */
  pushBack: Promise<void> | null = null
  constructor(readonly offloads: boolean) {}
  attach(port: NetPort): void {
    this.port = port
  }
  send(frame: Frame): void | Promise<void> {
    // The frame is lent: keep a copy.
    this.sent.push({ data: frame.data.slice(), offload: frame.offload })
    return this.pushBack ?? undefined
  }
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  deliver(data: Uint8Array, offload: Offload = NO_OFFLOAD): void {
    if (this.port === null) throw new Error('not attached')
    this.port.receive({ data, offload })
  }
}

interface Device {
  guest: FakeGuest
  backend: TestBackend
  net: VirtioNet
  driver: MmioDriver
  rx: DriverRing
  tx: DriverRing
}

/** A device brought up with the driver accepting accept (of what is offered), queues of size entries. */
function device(options: { offloads?: boolean, accept?: (offered: bigint) => bigint, size?: number } = {}): Device {
  const guest = new FakeGuest(MEMORY)
  const backend = new TestBackend(options.offloads ?? true)
  let transport: VirtioMmio | null = null
  const net = new VirtioNet(guest, backend, () => transport?.negotiated ?? 0n, () => transport?.configChanged())
  transport = new VirtioMmio(guest, 'nettest', net)
  const driver = new MmioDriver(transport, guest)
  const offered = driver.deviceFeatures()
  if (!driver.negotiate(options.accept?.(offered) ?? offered)) throw new Error('features refused')
  const rx = driver.setupQueue(0, options.size ?? 256)
  const tx = driver.setupQueue(1, options.size ?? 256)
  driver.write(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK)
  return { guest, backend, net, driver, rx, tx }
}

/** An Ethernet frame to dst from src with a payload of length bytes (ethertype 0x88b5, local experimental). */
function frame(length: number, seed = 1, dst: Uint8Array = Uint8Array.of(0x02, 0, 0, 0, 0, 0x42), src: Uint8Array = Uint8Array.of(0x02, 0, 0, 0, 0, 7)): Uint8Array {
  const bytes = new Uint8Array(14 + length)
  bytes.set(dst, 0)
  bytes.set(src, 6)
  bytes[12] = 0x88
  bytes[13] = 0xb5
  for (let i = 14; i < bytes.length; i++) bytes[i] = (i * 31 + seed) & 0xff
  return bytes
}

function header(fields: Partial<Offload> = {}): Uint8Array {
  const bytes = new Uint8Array(NET_HDR)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, fields.flags ?? 0)
  view.setUint8(1, fields.gsoType ?? 0)
  view.setUint16(2, fields.hdrLen ?? 0, true)
  view.setUint16(4, fields.gsoSize ?? 0, true)
  view.setUint16(6, fields.csumStart ?? 0, true)
  view.setUint16(8, fields.csumOffset ?? 0, true)
  return bytes
}

/** Offer a transmit chain: header and frame in separate readable buffers (or as given). */
function transmit(d: Device, buffers: { bytes: Uint8Array, write?: boolean }[]): number {
  const head = d.tx.chain(buffers.map((b) => ({ address: d.guest.place(b.bytes), length: b.bytes.length, write: b.write === true })))
  d.driver.notify(1)
  return head
}

/** Post count receive buffers of size bytes each, one descriptor per chain; returns their addresses. */
function post(d: Device, count: number, size: number): number[] {
  const addresses: number[] = []
  for (let i = 0; i < count; i++) {
    const address = d.guest.alloc(size)
    addresses.push(address)
    d.rx.chain([{ address, length: size, write: true }])
  }
  d.driver.notify(0)
  return addresses
}

/** What the driver reads back from used receive buffers: the header and the frame of each packet. */
function received(d: Device, addresses: Map<number, number>): { header: DataView, data: Uint8Array }[] {
  const packets: { header: DataView, data: Uint8Array }[] = []
  const used = d.rx.takeUsed()
  for (let i = 0; i < used.length;) {
    const first = used[i]
    if (first === undefined) break
    const start = addresses.get(first.id) ?? -1
    const head = new DataView(d.guest.bytes.buffer, start, NET_HDR)
    const count = head.getUint16(10, true)
    const parts = [d.guest.bytes.slice(start + NET_HDR, start + first.len)]
    for (let j = 1; j < count; j++) {
      const next = used[i + j]
      if (next === undefined) throw new Error(`packet claims ${count} buffers, only ${j} used`)
      const at = addresses.get(next.id) ?? -1
      parts.push(d.guest.bytes.slice(at, at + next.len))
    }
    packets.push({ header: head, data: Buffer.concat(parts) })
    i += count
  }
  return packets
}

/** Head index → address of the posted buffers (heads are handed out in order by DriverRing). */
function headMap(d: Device, addresses: number[], firstHead = 0): Map<number, number> {
  return new Map(addresses.map((a, i) => [(firstHead + i) % d.rx.size, a]))
}

describe('virtio-net: what the device offers', () => {
  it('device id 1, MAC, STATUS and mergeable buffers; offloads only over a backend that carries them', () => {
    const withOffloads = device()
    const plain = device({ offloads: false })
    expect(withOffloads.driver.read(REG.DeviceID)).toBe(1)
    const offered = withOffloads.driver.deviceFeatures()
    for (const f of [F_MAC, F_STATUS, F_MRG_RXBUF, F_CSUM, F_GUEST_CSUM, F_HOST_TSO4, F_GUEST_TSO4, F_VERSION_1]) {
      expect(offered & f, `feature bit ${f.toString(2).length - 1}`).toBe(f)
    }
    const plainOffered = plain.driver.deviceFeatures()
    expect(plainOffered & (F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_GUEST_TSO4)).toBe(0n)
    expect(plainOffered & (F_MAC | F_STATUS | F_MRG_RXBUF)).toBe(F_MAC | F_STATUS | F_MRG_RXBUF)
  })

  it('config space: the MAC at 0, the link status at 6 as the backend has it', () => {
    const d = device()
    const mac = Array.from({ length: 6 }, (_, i) => d.driver.device.read(REG.Config + i, 1))
    expect(mac).toEqual(Array.from(MAC))
    expect(d.driver.device.read(REG.Config + 6, 2)).toBe(1)
    d.backend.linkUp = false
    expect(d.driver.device.read(REG.Config + 6, 2)).toBe(0)
  })

  it('a link change is a config change: a new generation, the config interrupt (bit 1) once the driver runs', () => {
    const guest = new FakeGuest(MEMORY)
    const backend = new TestBackend(false)
    let transport: VirtioMmio | null = null
    const model = new VirtioNet(guest, backend, () => transport?.negotiated ?? 0n, () => transport?.configChanged())
    transport = new VirtioMmio(guest, 'nettest', model)
    const driver = new MmioDriver(transport, guest)
    expect(driver.read(REG.ConfigGeneration)).toBe(0)
    // Before DRIVER_OK the driver reads the config space anyway: a new generation, no interrupt.
    backend.linkUp = false
    backend.port?.linkChanged()
    expect(driver.read(REG.ConfigGeneration)).toBe(1)
    expect(guest.irqs).toBe(0)
    expect(driver.read(REG.InterruptStatus)).toBe(0)
    driver.start(16)
    backend.linkUp = true
    backend.port?.linkChanged()
    expect(driver.read(REG.ConfigGeneration)).toBe(2)
    expect(guest.irqs).toBe(1)
    // A second change before the handler ran rides on the interrupt already on its way.
    backend.linkUp = false
    backend.port?.linkChanged()
    expect(guest.irqs).toBe(1)
    expect(driver.acknowledge()).toBe(2)
    expect(driver.device.read(REG.Config + 6, 2)).toBe(0)
    expect(driver.read(REG.ConfigGeneration)).toBe(3)
    // The handler read the status: the next change needs an interrupt of its own.
    backend.port?.linkChanged()
    expect(guest.irqs).toBe(2)
    expect(driver.acknowledge()).toBe(2)
    expect(driver.read(REG.InterruptStatus)).toBe(0)
  })

  it('two queues of 256', () => {
    const d = device()
    for (const q of [0, 1]) {
      d.driver.write(REG.QueueSel, q)
      expect(d.driver.read(REG.QueueNumMax)).toBe(256)
    }
    d.driver.write(REG.QueueSel, 2)
    expect(d.driver.read(REG.QueueNumMax)).toBe(0)
  })
})

describe('virtio-net: transmit', () => {
  it('a chain is one frame: header and data as the driver wrote them, the chain given back, an interrupt', () => {
    const d = device()
    const data = frame(1000)
    const head = transmit(d, [{ bytes: header() }, { bytes: data.subarray(0, 300) }, { bytes: data.subarray(300) }])
    expect(d.backend.sent).toHaveLength(1)
    expect(Buffer.from(d.backend.sent[0]?.data ?? []).equals(data)).toBe(true)
    expect(d.tx.takeUsed()).toEqual([{ id: head, len: 0 }])
    expect(d.guest.irqs).toBe(1)
    expect(d.net.stats).toMatchObject({ txFrames: 1, txBytes: data.length, txErrors: 0 })
  })

  it('offload facts travel with the frame: a partial checksum and a 64 KiB TCP segment', () => {
    const d = device()
    const data = frame(65_000)
    const offload = { flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 }
    transmit(d, [{ bytes: header(offload) }, { bytes: data }])
    expect(d.backend.sent[0]?.offload).toEqual(offload)
    expect(d.backend.sent[0]?.data.length).toBe(data.length)
  })

  const malformed: [string, () => { bytes: Uint8Array, write?: boolean }[], ((offered: bigint) => bigint)?][] = [
    ['shorter than a header and an Ethernet header', () => [{ bytes: new Uint8Array(NET_HDR + 13) }]],
    ['longer than a 64 KiB packet', () => [{ bytes: header() }, { bytes: frame(65_536 + 4) }]],
    ['a writable buffer in a transmit chain', () => [{ bytes: header() }, { bytes: frame(100) }, { bytes: new Uint8Array(8), write: true }]],
    ['an unknown header flag', () => [{ bytes: header({ flags: 4 }) }, { bytes: frame(100) }]],
    ['DATA_VALID (a receive-only flag)', () => [{ bytes: header({ flags: 2 }) }, { bytes: frame(100) }]],
    ['a checksum position beyond the frame', () => [{ bytes: header({ flags: 1, csumStart: 100, csumOffset: 6 }) }, { bytes: frame(90) }]],
    ['UDP fragmentation (not offered)', () => [{ bytes: header({ flags: 1, gsoType: 3, gsoSize: 1400, csumStart: 34, csumOffset: 6 }) }, { bytes: frame(3000) }]],
    ['an ECN segment (not offered)', () => [{ bytes: header({ flags: 1, gsoType: 0x81, gsoSize: 1400, csumStart: 34, csumOffset: 16 }) }, { bytes: frame(3000) }]],
    ['a segment without a partial checksum', () => [{ bytes: header({ gsoType: 1, gsoSize: 1448 }) }, { bytes: frame(3000) }]],
    ['a segment of size 0', () => [{ bytes: header({ flags: 1, gsoType: 1, csumStart: 34, csumOffset: 16 }) }, { bytes: frame(3000) }]],
    ['TSO the driver did not accept', () => [{ bytes: header({ flags: 1, gsoType: 1, gsoSize: 1448, csumStart: 34, csumOffset: 16 }) }, { bytes: frame(3000) }],
      (offered) => offered & ~F_HOST_TSO4],
    ['a partial checksum the driver did not accept', () => [{ bytes: header({ flags: 1, csumStart: 34, csumOffset: 6 }) }, { bytes: frame(100) }],
      (offered) => offered & ~F_CSUM & ~F_HOST_TSO4 & ~(1n << 12n)],
  ]
  for (const [what, buffers, accept] of malformed) {
    it(`dropped and counted, the kernel's buffers given back: ${what}`, () => {
      const d = device(accept === undefined ? {} : { accept })
      const head = transmit(d, buffers())
      expect(d.backend.sent).toHaveLength(0)
      expect(d.net.stats.txErrors).toBe(1)
      expect(d.tx.takeUsed()).toEqual([{ id: head, len: 0 }])
      expect(d.guest.failures).toEqual([])
      // The device goes on: the next good frame passes.
      transmit(d, [{ bytes: header() }, { bytes: frame(60) }])
      expect(d.backend.sent).toHaveLength(1)
      expect(d.net.stats.txFrames).toBe(1)
    })
  }

  it('a backend that pushes back holds the buffers (and counts as host I/O) until it takes the frame', async () => {
    const d = device()
    let release = (): void => undefined
    d.backend.pushBack = new Promise((resolve) => {
      release = resolve
    })
    const head = transmit(d, [{ bytes: header() }, { bytes: frame(100) }])
    expect(d.backend.sent).toHaveLength(1)
    expect(d.tx.takeUsed()).toEqual([])
    expect(d.guest.ioPending).toBe(1)
    // Nothing was given back yet, so nothing to interrupt for.
    expect(d.guest.irqs).toBe(0)
    release()
    await d.backend.pushBack
    await new Promise((resolve) => setImmediate(resolve))
    expect(d.tx.takeUsed()).toEqual([{ id: head, len: 0 }])
    expect(d.guest.ioPending).toBe(0)
    expect(d.guest.irqs).toBe(1)
  })
})

describe('virtio-net: receive', () => {
  it('a 64 KiB frame is spread over mergeable buffers: num_buffers, offloads and the bytes as sent', () => {
    const d = device()
    const addresses = post(d, 40, 2048)
    const data = frame(65_000, 5)
    const offload = { flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 }
    d.backend.deliver(data, offload)
    const [packet, ...rest] = received(d, headMap(d, addresses))
    expect(rest).toEqual([])
    expect(packet?.header.getUint16(10, true)).toBe(Math.ceil((NET_HDR + data.length) / 2048))
    expect(packet?.header.getUint8(0)).toBe(1)
    expect(packet?.header.getUint8(1)).toBe(1)
    expect(packet?.header.getUint16(4, true)).toBe(1448)
    expect(Buffer.from(packet?.data ?? []).equals(data)).toBe(true)
    expect(d.guest.irqs).toBe(1)
    expect(d.net.stats).toMatchObject({ rxFrames: 1, rxBytes: data.length, rxDropped: 0, rxErrors: 0 })
  })

  it('frames before the driver posts buffers are dropped and counted (no driver yet)', () => {
    const guest = new FakeGuest(MEMORY)
    const backend = new TestBackend(true)
    const model = new VirtioNet(guest, backend, () => 0n, () => undefined)
    backend.deliver(frame(60))
    backend.deliver(frame(60))
    expect(model.stats.rxDropped).toBe(2)
  })

  it('with no buffers posted, frames wait in a bounded backlog, then drop; posting delivers them in order', () => {
    const d = device()
    post(d, 1, 2048)
    // The one posted buffer takes the first frame; the rest wait, then overflow.
    const extra = 10
    for (let i = 0; i < 1 + RX_BACKLOG + extra; i++) d.backend.deliver(frame(100, i))
    expect(d.net.stats.rxFrames).toBe(1)
    expect(d.net.stats.rxDropped).toBe(extra)
    d.rx.takeUsed()
    // Buffers come back in batches of 64 (the ring's size here is 256 entries; the first was used).
    const seeds: number[] = []
    for (let batch = 0; batch < 4; batch++) {
      const first = (1 + 64 * batch) % 256
      const addresses = post(d, 64, 2048)
      for (const packet of received(d, headMap(d, addresses, first))) seeds.push(((packet.data[14] ?? 0) - 14 * 31) & 0xff)
    }
    expect(seeds).toEqual(Array.from({ length: RX_BACKLOG }, (_, i) => (i + 1) & 0xff))
    expect(d.net.stats.rxFrames).toBe(1 + RX_BACKLOG)
  })

  it('a reset drops the posted buffers and the backlog (counted), and frames after it are dropped', () => {
    const d = device()
    for (let i = 0; i < 5; i++) d.backend.deliver(frame(100, i))
    expect(d.net.stats.rxDropped).toBe(5)
    post(d, 1, 64)
    d.backend.deliver(frame(100))
    d.backend.deliver(frame(100))
    d.driver.write(REG.Status, 0)
    expect(d.net.stats.rxDropped).toBe(5 + 2)
    d.backend.deliver(frame(100))
    expect(d.net.stats.rxDropped).toBe(8)
  })

  it('without MRG_RXBUF a frame goes into one chain; one that does not fit is an error, and the chain stays for the next', () => {
    const d = device({ accept: (offered) => offered & ~F_MRG_RXBUF })
    // A chain of two writable buffers (header room, then data), as a driver without merging posts them.
    const a = d.guest.alloc(NET_HDR)
    const b = d.guest.alloc(1600)
    d.rx.chain([{ address: a, length: NET_HDR, write: true }, { address: b, length: 1600, write: true }])
    d.driver.notify(0)
    d.backend.deliver(frame(3000))
    expect(d.net.stats.rxErrors).toBe(1)
    const data = frame(1500, 9)
    d.backend.deliver(data)
    const [used] = d.rx.takeUsed()
    expect(used?.len).toBe(NET_HDR + data.length)
    expect(Buffer.from(d.guest.bytes.subarray(b, b + data.length)).equals(data)).toBe(true)
    expect(new DataView(d.guest.bytes.buffer, a, NET_HDR).getUint16(10, true)).toBe(1)
  })

  it('a partial checksum is finished for a driver without GUEST_CSUM (RFC 1071: the sum over the segment is 0xffff)', () => {
    const d = device({ accept: (offered) => offered & ~F_GUEST_CSUM & ~F_GUEST_TSO4 & ~(1n << 8n) })
    const addresses = post(d, 1, 2048)
    const packet = udpPacket(Uint8Array.of(10, 0, 0, 1), Uint8Array.of(10, 0, 0, 2), new TextEncoder().encode('checksum me, an odd length!'))
    d.backend.deliver(packet.frame, { flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 34, csumOffset: 6 })
    const [got] = received(d, headMap(d, addresses))
    expect(got?.header.getUint8(0)).toBe(0)
    const udp = got?.data.subarray(34) ?? new Uint8Array(0)
    expect(onesSum([packet.pseudo, udp])).toBe(0xffff)
    // The bytes other than the checksum are the sender's.
    expect(Buffer.from(udp.subarray(8)).equals(Buffer.from(packet.frame.subarray(42)))).toBe(true)
  })

  it('a segment beyond the MTU for a driver without GUEST_TSO4 is dropped as an error', () => {
    const d = device({ accept: (offered) => offered & ~F_GUEST_TSO4 })
    post(d, 40, 2048)
    d.backend.deliver(frame(20_000), { flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 })
    expect(d.net.stats.rxErrors).toBe(1)
    expect(d.rx.takeUsed()).toEqual([])
  })
})

/** The ones' complement sum of 16-bit big-endian words over parts (RFC 1071), folded. */
function onesSum(parts: readonly Uint8Array[]): number {
  let sum = 0
  for (const part of parts) {
    for (let i = 0; i < part.length; i += 2) sum += ((part[i] ?? 0) << 8) | (part[i + 1] ?? 0)
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum
}

/**
 * An Ethernet/IPv4/UDP frame whose UDP checksum field holds the pseudo-header
 * sum, as a sender offloading the checksum leaves it (NEEDS_CSUM); and the
 * pseudo-header, for checking the result.
 */
function udpPacket(src: Uint8Array, dst: Uint8Array, payload: Uint8Array): { frame: Uint8Array, pseudo: Uint8Array } {
  const udpLength = 8 + payload.length
  const bytes = new Uint8Array(14 + 20 + udpLength)
  const view = new DataView(bytes.buffer)
  bytes.set(MAC, 0)
  bytes.set(Uint8Array.of(2, 0, 0, 0, 0, 7), 6)
  view.setUint16(12, 0x0800)
  view.setUint8(14, 0x45)
  view.setUint16(16, 20 + udpLength)
  view.setUint8(22, 64)
  view.setUint8(23, 17)
  bytes.set(src, 26)
  bytes.set(dst, 30)
  view.setUint16(34, 4000)
  view.setUint16(36, 5000)
  view.setUint16(38, udpLength)
  bytes.set(payload, 42)
  const pseudo = new Uint8Array(12)
  pseudo.set(src, 0)
  pseudo.set(dst, 4)
  pseudo[9] = 17
  new DataView(pseudo.buffer).setUint16(10, udpLength)
  view.setUint16(40, onesSum([pseudo]))
  return { frame: bytes, pseudo }
}

describe('netSwitch', () => {
  /** A port of the switch whose receive side the test watches. */
  async function port(sw: ReturnType<typeof netSwitch>, mac: string): Promise<{ backend: NetBackend, got: Uint8Array[] }> {
    const backend = nic(sw, { mac })
    const got: Uint8Array[] = []
    backend.attach({ receive: (f) => got.push(f.data.slice()), linkChanged: () => undefined })
    await backend.open()
    return { backend, got }
  }
  const A = '02:00:00:00:00:0a'
  const B = '02:00:00:00:00:0b'
  const C = '02:00:00:00:00:0c'
  const to = (dst: string, src: string): Uint8Array => frame(50, 1, parseMac(dst), parseMac(src))

  it('floods what it does not know, learns sources, then sends to the one port', async () => {
    const sw = netSwitch()
    const [a, b, c] = await Promise.all([port(sw, A), port(sw, B), port(sw, C)])
    a.backend.send({ data: to(B, A), offload: NO_OFFLOAD })
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 1, 1])
    b.backend.send({ data: to(A, B), offload: NO_OFFLOAD })
    expect([a.got.length, b.got.length, c.got.length]).toEqual([1, 1, 1])
    a.backend.send({ data: to(B, A), offload: NO_OFFLOAD })
    expect([a.got.length, b.got.length, c.got.length]).toEqual([1, 2, 1])
    a.backend.send({ data: to('fe:ff:ff:ff:ff:ff', A), offload: NO_OFFLOAD })
    expect(sw.stats).toMatchObject({ unicast: 2, flooded: 2 })
  })

  it('broadcasts reach every other port; a frame to its own port is dropped', async () => {
    const sw = netSwitch()
    const [a, b, c] = await Promise.all([port(sw, A), port(sw, B), port(sw, C)])
    const broadcast = frame(50, 1, Uint8Array.of(255, 255, 255, 255, 255, 255), parseMac(A))
    a.backend.send({ data: broadcast, offload: NO_OFFLOAD })
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 1, 1])
    a.backend.send({ data: to(A, A), offload: NO_OFFLOAD })
    expect(sw.stats.dropped).toBe(1)
  })

  it('a port that leaves takes its MACs with it: frames for it flood to the others, it gets nothing', async () => {
    const sw = netSwitch()
    const [a, b, c] = await Promise.all([port(sw, A), port(sw, B), port(sw, C)])
    b.backend.send({ data: to(A, B), offload: NO_OFFLOAD })
    await b.backend.close()
    expect(sw.ports).toBe(2)
    expect(b.backend.linkUp).toBe(false)
    a.backend.send({ data: to(B, A), offload: NO_OFFLOAD })
    expect([b.got.length, c.got.length]).toEqual([0, 2])
    // A closed NIC's own frames go nowhere.
    b.backend.send({ data: to(A, B), offload: NO_OFFLOAD })
    expect(a.got.length).toBe(1)
  })

  it('MACs: made up ones are unique, locally administered unicast; given ones are checked', () => {
    const sw = netSwitch()
    const macs = Array.from({ length: 50 }, () => formatMac(nic(sw).mac))
    expect(new Set(macs).size).toBe(50)
    for (const mac of macs) expect(Number.parseInt(mac.slice(0, 2), 16) & 3).toBe(2)
    expect(formatMac(nic(sw, { mac: '02:AB:cd:00:00:01' }).mac)).toBe('02:ab:cd:00:00:01')
    expect(() => nic(sw, { mac: '01:00:5e:00:00:01' })).toThrow(/multicast/)
    expect(() => nic(sw, { mac: '02:00:00:00:01' })).toThrow(/not a MAC/)
  })
})

describe('streamSocket', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'uklkl-net-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** A Node server on a unix socket; resolves with the path, the server and its first connection. */
  async function peer(name: string): Promise<{ where: string, server: net.Server, connection: Promise<net.Socket> }> {
    const where = path.join(dir, name)
    const server = net.createServer()
    const connection = once(server, 'connection').then(([socket]) => socket as net.Socket)
    server.listen(where)
    await once(server, 'listening')
    return { where, server, connection }
  }

  it('frames both ways, each behind its length as 4 bytes big-endian, however the bytes are split', async () => {
    const { where, server, connection } = await peer('a.sock')
    const backend = streamSocket(where)
    const got: Uint8Array[] = []
    let changes = 0
    backend.attach({ receive: (f) => got.push(f.data.slice()), linkChanged: () => changes++ })
    await backend.open()
    const socket = await connection
    expect(backend.linkUp).toBe(true)
    const data = frame(1000, 3)
    void backend.send({ data, offload: NO_OFFLOAD })
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    expect(chunk.readUInt32BE(0)).toBe(data.length)
    expect(chunk.subarray(4).equals(data)).toBe(true)
    // Two frames from the peer, cut where a parser can go wrong: inside the first
    // length, 4 bytes short of the first frame's end, inside the second length.
    const one = frame(60, 1)
    const two = frame(1500, 2)
    const stream = Buffer.concat([lengthOf(one), one, lengthOf(two), two])
    const cuts = [2, 4 + one.length - 4, 4 + one.length + 2, stream.length]
    let from = 0
    for (const cut of cuts) {
      socket.write(stream.subarray(from, cut))
      from = cut
      // Apart in time, so that they arrive apart.
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await until(() => got.length === 2)
    expect(Buffer.from(got[0] ?? []).equals(one)).toBe(true)
    expect(Buffer.from(got[1] ?? []).equals(two)).toBe(true)
    await backend.close()
    expect(backend.linkUp).toBe(false)
    expect(changes, 'closing for a stopping kernel tells nobody').toBe(0)
    server.close()
  })

  it('a peer that goes away takes the link down and says so, once', async () => {
    const { where, server, connection } = await peer('gone.sock')
    const backend = streamSocket(where)
    const states: boolean[] = []
    backend.attach({ receive: () => undefined, linkChanged: () => states.push(backend.linkUp) })
    await backend.open()
    const socket = await connection
    socket.destroy()
    await until(() => states.length > 0)
    expect(backend.linkUp).toBe(false)
    await backend.close()
    expect(states).toEqual([false])
    server.close()
  })

  it('a length out of range loses the stream: counted, closed, link down', async () => {
    const { where, server, connection } = await peer('b.sock')
    const backend = streamSocket(where)
    let changes = 0
    backend.attach({ receive: () => undefined, linkChanged: () => changes++ })
    await backend.open()
    const socket = await connection
    socket.write(Buffer.from([0, 0x10, 0, 0]))
    await once(socket, 'close')
    expect(changes).toBe(1)
    expect(backend.stats.malformed).toBe(1)
    expect(backend.linkUp).toBe(false)
    // Frames sent while the link is down are lost, and counted.
    await backend.send({ data: frame(60), offload: NO_OFFLOAD })
    expect(backend.stats.txLost).toBe(1)
    server.close()
  })

  it('a socket that cannot be reached rejects open() with the Node error', async () => {
    await expect(streamSocket(path.join(dir, 'nobody.sock')).open()).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

function lengthOf(bytes: Uint8Array): Buffer {
  const prefix = Buffer.alloc(4)
  prefix.writeUInt32BE(bytes.length)
  return prefix
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  expect(condition()).toBe(true)
}

describe('k.net addresses', () => {
  it('IPv6 text round-trips as the WHATWG URL parser writes it (RFC 5952 compression)', () => {
    const cases = ['::', '::1', 'fd00::2', '1::', '1:2:3:4:5:6:7:8', '2001:db8:0:0:1:0:0:1', '2001:0db8:0000:0000:0000:ff00:0042:8329',
      'fe80::75:6bff:fe00:1', '0:0:1:0:0:0:0:1', '1:0:0:2:0:0:0:3', '::1.2.3.4', '64:ff9b::192.0.2.33']
    for (const text of cases) expect(formatIp(parseIp(text).bytes), text).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1))
  })

  it('IPv4, IPv4-mapped IPv6 as Node prints it, prefixes, socket addresses', () => {
    expect(Array.from(parseIp('10.0.0.1').bytes)).toEqual([10, 0, 0, 1])
    expect(formatIp(parseIp('::ffff:1.2.3.4').bytes)).toBe('::ffff:1.2.3.4')
    expect(formatIp(parseIp('localhost').bytes)).toBe('127.0.0.1')
    expect(() => parseIp('example.com')).toThrow(/no resolver/)
    expect(parsePrefix('10.1.0.0/16')).toMatchObject({ family: 4, length: 16 })
    expect(parsePrefix('fd00::1')).toMatchObject({ family: 6, length: 128 })
    for (const bad of ['10.0.0.1/33', '10.0.0.1/', '10.0.0.1/x', 'fd00::/129']) expect(() => parsePrefix(bad), bad).toThrow(TypeError)
    expect(decodeSockaddr(encodeSockaddr(parseIp('192.168.1.2'), 8080))).toEqual({ address: '192.168.1.2', family: 'IPv4', port: 8080 })
    expect(decodeSockaddr(encodeSockaddr(parseIp('fd00::2'), 443))).toEqual({ address: 'fd00::2', family: 'IPv6', port: 443 })
    // The port in network byte order, the family in the host's.
    expect(Array.from(encodeSockaddr(parseIp('1.2.3.4'), 0x1234).subarray(0, 8))).toEqual([2, 0, 0x12, 0x34, 1, 2, 3, 4])
  })
})
