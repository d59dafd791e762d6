// SPDX-License-Identifier: MIT
/**
 * dhcp.test.ts - k.net.dhcp()'s client against a scripted DHCP server that
 * is the NIC's far end (a NetBackend written here, parsing and building its
 * frames with its own code, not src/net/dhcp.ts's): what the client sends
 * (broadcast from 0.0.0.0:68, checksums right, REQUEST naming the offered
 * address and the server), what it takes (replies unicast to the offered
 * address, as passt sends them; not a reply for another transaction, another
 * MAC, or with a bad UDP checksum), a NAK starting over with a new
 * transaction, retransmission with backoff, and ETIMEDOUT naming the
 * interface when nobody answers. passt.test.ts runs the client against passt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Frame } from '../../src/devices/net/frame.js'
import { NO_OFFLOAD } from '../../src/devices/net/frame.js'
import type { NetBackend, NetPort } from '../../src/devices/net/virtio-net.js'
import { type Kernel, startKernel } from '../../src/index.js'

const CLIENT_MAC = Uint8Array.of(0x02, 0, 0, 0, 0xdc, 0x01)
const SERVER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0xdc, 0xfe)
const SERVER_IP = [10, 1, 0, 1]

/** RFC 1071 over the bytes (a trailing odd byte padded with zero). */
function sum16(bytes: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** What the server saw of one client message. */
interface Seen {
  readonly dstMac: number[]
  readonly src: number[]
  readonly dst: number[]
  readonly srcPort: number
  readonly dstPort: number
  readonly ipChecksumOk: boolean
  readonly udpChecksumOk: boolean
  readonly xid: number
  readonly type: number
  readonly options: Map<number, number[]>
}

function parse(frame: Uint8Array): Seen | null {
  if (frame.length < 14 + 20 + 8 + 240 || frame[12] !== 0x08 || frame[13] !== 0x00 || frame[14 + 9] !== 17) return null
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  const ip = frame.subarray(14)
  const ihl = ((ip[0] ?? 0) & 0xf) * 4
  const udp = ip.subarray(ihl, view.getUint16(16))
  const pseudo = new Uint8Array(12 + udp.length + (udp.length % 2))
  pseudo.set(ip.subarray(12, 20), 0)
  pseudo[9] = 17
  new DataView(pseudo.buffer).setUint16(10, udp.length)
  pseudo.set(udp, 12)
  const bootp = udp.subarray(8)
  const options = new Map<number, number[]>()
  for (let at = 240; at < bootp.length && bootp[at] !== 255;) {
    if (bootp[at] === 0) {
      at++
      continue
    }
    const length = bootp[at + 1] ?? 0
    options.set(bootp[at] ?? 0, Array.from(bootp.subarray(at + 2, at + 2 + length)))
    at += 2 + length
  }
  return {
    dstMac: Array.from(frame.subarray(0, 6)),
    src: Array.from(ip.subarray(12, 16)),
    dst: Array.from(ip.subarray(16, 20)),
    srcPort: (udp[0] ?? 0) * 256 + (udp[1] ?? 0),
    dstPort: (udp[2] ?? 0) * 256 + (udp[3] ?? 0),
    ipChecksumOk: sum16(ip.subarray(0, ihl)) === 0,
    udpChecksumOk: sum16(pseudo) === 0,
    xid: new DataView(bootp.buffer, bootp.byteOffset).getUint32(4),
    type: options.get(53)?.[0] ?? 0,
    options,
  }
}

interface Reply {
  type: number
  xid: number
  yiaddr: number[]
  chaddr?: Uint8Array
  /** Spoil the UDP checksum. */
  badChecksum?: boolean
}

/** A reply as passt sends one: to the client's MAC and the offered address, UDP checksum 0 unless spoiled. */
function build(r: Reply): Uint8Array {
  const bootp = new Uint8Array(300)
  const bv = new DataView(bootp.buffer)
  bootp.set([2, 1, 6, 0])
  bv.setUint32(4, r.xid)
  bootp.set(r.yiaddr, 16)
  bootp.set(r.chaddr ?? CLIENT_MAC, 28)
  bv.setUint32(236, 0x63825363)
  bootp.set([53, 1, r.type, 1, 4, 255, 255, 255, 0, 3, 4, ...SERVER_IP, 6, 8, 10, 1, 0, 53, 10, 1, 0, 54,
    51, 4, 0, 0, 0x0e, 0x10, 54, 4, ...SERVER_IP, 255], 240)
  const frame = new Uint8Array(14 + 20 + 8 + bootp.length)
  const view = new DataView(frame.buffer)
  frame.set(CLIENT_MAC, 0)
  frame.set(SERVER_MAC, 6)
  frame.set([0x08, 0x00], 12)
  frame.set([0x45, 0], 14)
  view.setUint16(16, 20 + 8 + bootp.length)
  frame.set([64, 17], 22)
  frame.set(SERVER_IP, 26)
  frame.set(r.yiaddr, 30)
  view.setUint16(24, sum16(frame.subarray(14, 34)))
  view.setUint16(34, 67)
  view.setUint16(36, 68)
  view.setUint16(38, 8 + bootp.length)
  if (r.badChecksum === true) view.setUint16(40, 0x1234)
  frame.set(bootp, 42)
  return frame
}

/** The NIC's far end: records what the kernel sends and answers as the current script says. */
class ScriptedServer implements NetBackend {
  readonly offloads = false
  readonly mac = CLIENT_MAC
  readonly linkUp = true
  readonly seen: Seen[] = []
  script: (message: Seen, index: number) => Reply[] = () => []
  #port: NetPort | null = null

  attach(port: NetPort): void {
    this.#port = port
  }

  send(frame: Frame): void {
    const message = parse(frame.data)
    if (message === null || message.dstPort !== 67) return
    this.seen.push(message)
    const replies = this.script(message, this.seen.length - 1)
    // Answer on a later turn, as a real server's frames arrive: not inside the kernel's transmit.
    setImmediate(() => {
      for (const r of replies) this.#port?.receive({ data: build(r), offload: NO_OFFLOAD })
    })
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}
}

describe.sequential('k.net.dhcp against a scripted server', () => {
  const server = new ScriptedServer()
  let k: Kernel
  beforeAll(async () => {
    k = await startKernel({ nics: [server] })
  })
  afterAll(async () => {
    await k.halt().catch(() => undefined)
  })

  it('takes the offer for its xid and MAC with a good checksum, requests it from that server, and applies the ACK', async () => {
    server.seen.length = 0
    server.script = (m) => m.type === 1
      ? [
          { type: 2, xid: m.xid + 1, yiaddr: [10, 1, 0, 66] },
          { type: 2, xid: m.xid, yiaddr: [10, 1, 0, 77], chaddr: SERVER_MAC },
          { type: 2, xid: m.xid, yiaddr: [10, 1, 0, 88], badChecksum: true },
          { type: 2, xid: m.xid, yiaddr: [10, 1, 0, 15] },
        ]
      : [{ type: 5, xid: m.xid ^ 1, yiaddr: [10, 1, 0, 66] }, { type: 5, xid: m.xid, yiaddr: [10, 1, 0, 15] }]
    const lease = await k.net.dhcp('eth0')
    expect(lease).toEqual({ address: '10.1.0.15/24', router: '10.1.0.1', dns: ['10.1.0.53', '10.1.0.54'], leaseSeconds: 3600, server: '10.1.0.1' })
    const [discover, request] = server.seen
    expect(server.seen.map((m) => m.type)).toEqual([1, 3])
    for (const m of [discover, request]) {
      expect(m).toMatchObject({ dstMac: [255, 255, 255, 255, 255, 255], src: [0, 0, 0, 0], dst: [255, 255, 255, 255], srcPort: 68, dstPort: 67 })
      expect(m?.ipChecksumOk, 'the IPv4 header checksum is right').toBe(true)
      expect(m?.udpChecksumOk, 'the UDP checksum is right').toBe(true)
    }
    expect(request?.xid).toBe(discover?.xid)
    expect(request?.options.get(50), 'REQUEST names the offered address').toEqual([10, 1, 0, 15])
    expect(request?.options.get(54), 'REQUEST names the server').toEqual(SERVER_IP)
    const eth = (await k.net.interfaces()).find((i) => i.name === 'eth0')
    expect(eth?.up).toBe(true)
    expect(eth?.addresses.filter((a) => a.family === 'IPv4')).toEqual([{ family: 'IPv4', address: '10.1.0.15', prefixLength: 24 }])
  })

  it('a NAK starts over with a new transaction', async () => {
    server.seen.length = 0
    let nakked: number | null = null
    server.script = (m) => {
      if (m.type === 1) return [{ type: 2, xid: m.xid, yiaddr: nakked === null ? [10, 1, 0, 20] : [10, 1, 0, 21] }]
      // Every REQUEST of the first transaction is refused: only a new one can succeed.
      nakked ??= m.xid
      return m.xid === nakked ? [{ type: 6, xid: m.xid, yiaddr: [0, 0, 0, 0] }] : [{ type: 5, xid: m.xid, yiaddr: [10, 1, 0, 21] }]
    }
    const lease = await k.net.dhcp('eth0', { timeoutMs: 5000 })
    expect(lease.address).toBe('10.1.0.21/24')
    expect(server.seen.map((m) => m.type)).toEqual([1, 3, 1, 3])
    expect(server.seen[2]?.xid).not.toBe(server.seen[0]?.xid)
  })

  it('nobody answers: the DISCOVER is sent again with backoff, then ETIMEDOUT naming the interface', async () => {
    server.seen.length = 0
    server.script = () => []
    await expect(k.net.dhcp('eth0', { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'ETIMEDOUT', errno: k.constants.ETIMEDOUT, syscall: 'dhcp', device: 'eth0', message: expect.stringContaining('dhcp eth0'),
    })
    // Sent at 0, 0.5 and 1.5 s (the next would be at 3.5): without the doubling a fourth would go at 1.5 s.
    expect(server.seen.length).toBeGreaterThanOrEqual(2)
    expect(server.seen.length).toBeLessThanOrEqual(3)
    expect(new Set(server.seen.map((m) => m.xid)).size, 'a resent DISCOVER keeps its xid').toBe(1)
    expect(server.seen.every((m) => m.type === 1)).toBe(true)
  })

  it('an unknown interface is ENODEV', async () => {
    await expect(k.net.dhcp('eth9')).rejects.toMatchObject({ code: 'ENODEV' })
  })
})
