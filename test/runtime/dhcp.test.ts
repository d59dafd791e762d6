// SPDX-License-Identifier: MIT
/**
 * dhcp.test.ts - the DHCP client's packets without a kernel: an OFFER that
 * Debian's passt (0.0~git20230309) sent to a DISCOVER of ours, captured as it
 * came off passt's socket, decodes to what passt was told (-a 10.0.2.15 -n 24
 * -g 10.0.2.2; DNS from the capturing host's resolv.conf); damage to its IPv4
 * header or a wrong non-zero UDP checksum gets it dropped; our own packets and
 * messages read back as written, long options split and joined (RFC 3396);
 * a lease without a netmask falls back to the address's class.
 */
import { describe, expect, it } from 'vitest'
import {
  DHCPDISCOVER, DHCPOFFER, OPT_PARAMETERS, OPT_SUBNET_MASK, decodeDhcp, decodeUdp4, encodeDhcp, encodeUdp4, leaseOf,
} from '../../src/net/dhcp.js'

/** passt's frame: Ethernet (to the client's MAC), IPv4 from 10.0.2.2 to 10.0.2.15, UDP 67 → 68 (checksum 0: passt computes none), the OFFER. */
const PASST_OFFER = Buffer.from(
  '02756b00000102fc0000000108004500014800000000ff11a2940a0002020a00020f00430044013400000201060012345678' + '00'.repeat(8)
  + '0a00020f' + '00'.repeat(8) + '02756b000001' + '00'.repeat(202)
  + '638253630104ffffff0003040a00020206040affff351a02fff03304ffffffff35010236040a000202ff' + '00'.repeat(22),
  'hex',
)
const CLIENT_MAC = Uint8Array.of(0x02, 0x75, 0x6b, 0, 0, 1)
const ip = (text: string): Uint8Array => Uint8Array.from(text.split('.'), Number)

describe("passt's OFFER", () => {
  it('is the frame as captured (342 bytes)', () => {
    expect(PASST_OFFER.length).toBe(342)
  })

  it('decodes: from 10.0.2.2:67 to the offered 10.0.2.15:68, the xid and MAC of the DISCOVER, what passt was told', () => {
    const datagram = decodeUdp4(PASST_OFFER.subarray(14))
    expect(datagram).not.toBeNull()
    expect(datagram && { src: Array.from(datagram.src), dst: Array.from(datagram.dst), srcPort: datagram.srcPort, dstPort: datagram.dstPort })
      .toEqual({ src: [10, 0, 2, 2], dst: [10, 0, 2, 15], srcPort: 67, dstPort: 68 })
    const offer = datagram === null ? null : decodeDhcp(datagram.payload)
    expect(offer).toMatchObject({ op: 2, xid: 0x12345678, type: DHCPOFFER, yiaddr: ip('10.0.2.15'), chaddr: CLIENT_MAC })
    // passt also sends its MTU (option 26: 65520), which the lease leaves out.
    expect(offer?.options.get(26)).toEqual(Uint8Array.of(0xff, 0xf0))
    expect(offer && datagram && leaseOf(offer, datagram.src)).toEqual({
      address: '10.0.2.15/24', router: '10.0.2.2', dns: ['10.255.255.53'], leaseSeconds: Infinity, server: '10.0.2.2',
    })
  })

  it('a damaged IPv4 header (any byte of it) is dropped', () => {
    for (let i = 0; i < 20; i++) {
      const damaged = Buffer.from(PASST_OFFER.subarray(14))
      damaged[i] = (damaged[i] ?? 0) ^ 0x10
      expect(decodeUdp4(damaged), `byte ${i} of the IPv4 header flipped`).toBeNull()
    }
  })

  it('a UDP checksum that does not match is dropped; 0 means none', () => {
    const packet = Buffer.from(PASST_OFFER.subarray(14))
    packet.writeUInt16BE(0x1234, 20 + 6)
    expect(decodeUdp4(packet)).toBeNull()
  })
})

describe('our packets', () => {
  const discover = {
    op: 1, xid: 0xdeadbeef, flags: 0, ciaddr: new Uint8Array(4), yiaddr: new Uint8Array(4), siaddr: new Uint8Array(4), chaddr: CLIENT_MAC,
    type: DHCPDISCOVER, options: new Map([[OPT_PARAMETERS, Uint8Array.of(1, 3, 6)]]),
  }

  it('a DISCOVER is padded to BOOTP 300 bytes and reads back as written', () => {
    const bytes = encodeDhcp(discover)
    expect(bytes.length).toBe(300)
    expect(decodeDhcp(bytes)).toEqual({ ...discover, chaddr: Uint8Array.from(CLIENT_MAC) })
  })

  it('an IPv4/UDP packet reads back; a flipped payload byte fails the UDP checksum', () => {
    const payload = encodeDhcp(discover)
    const packet = encodeUdp4({ src: new Uint8Array(4), dst: ip('255.255.255.255'), srcPort: 68, dstPort: 67, payload })
    const back = decodeUdp4(packet)
    expect(back && { srcPort: back.srcPort, dstPort: back.dstPort, payload: Buffer.from(back.payload) }).toEqual({ srcPort: 68, dstPort: 67, payload: Buffer.from(payload) })
    expect(new DataView(packet.buffer).getUint16(26), 'a UDP checksum is sent').not.toBe(0)
    packet[100] = (packet[100] ?? 0) ^ 1
    expect(decodeUdp4(packet)).toBeNull()
  })

  it('an option longer than 255 bytes goes as several and comes back joined (RFC 3396)', () => {
    const long = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)
    const back = decodeDhcp(encodeDhcp({ ...discover, options: new Map([[119, long]]) }))
    expect(back?.options.get(119)).toEqual(long)
  })

  it('a lease without a netmask (or a broken one) takes the class of the address', () => {
    const ack = decodeDhcp(encodeDhcp({ ...discover, op: 2, type: 5, yiaddr: ip('172.16.5.9'), options: new Map() }))
    expect(ack && leaseOf(ack, ip('172.16.0.1'))).toEqual({ address: '172.16.5.9/16', dns: [], leaseSeconds: Infinity, server: '172.16.0.1' })
    const broken = decodeDhcp(encodeDhcp({ ...discover, op: 2, type: 5, yiaddr: ip('10.3.0.9'), options: new Map([[OPT_SUBNET_MASK, ip('255.0.255.0')]]) }))
    expect(broken && leaseOf(broken, ip('10.3.0.1')).address).toBe('10.3.0.9/8')
  })

  it('not DHCP (no magic cookie, an option past the end) is null', () => {
    const bytes = encodeDhcp(discover)
    const noMagic = bytes.slice()
    noMagic[236] = 0
    expect(decodeDhcp(noMagic)).toBeNull()
    const truncated = bytes.slice(0, 240 + 3)
    truncated[240 + 1] = 200
    expect(decodeDhcp(truncated.subarray(0, 243))).toBeNull()
  })
})
