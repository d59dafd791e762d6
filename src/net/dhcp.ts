// SPDX-License-Identifier: MIT
/**
 * dhcp.ts - a small DHCPv4 client (RFC 2131) for k.net.dhcp(): what passt,
 * or any DHCP server on a NIC's link, hands out becomes the interface's
 * address, prefix and default route.
 *
 * The client speaks through an AF_PACKET socket (SOCK_DGRAM, ETH_P_IP) bound
 * to the interface, not a UDP socket: until it has an address the kernel's IP
 * layer drops a reply sent unicast to the offered address - which is how
 * passt answers - while a packet socket sees every IPv4 frame the NIC takes.
 * So the client builds the IPv4 and UDP headers itself (with their checksums)
 * and sends to the broadcast MAC; it reads replies the same way and checks
 * both checksums.
 *
 * The exchange: DISCOVER, the first OFFER for this transaction (xid) and this
 * NIC (chaddr), REQUEST of the offered address from that server, then ACK - or
 * NAK, which starts over with a new transaction. A message with no answer is
 * sent again after 0.5 s, then 1, 2, 4 and 8 s (RFC 2131 4.1's doubling,
 * without its random jitter, and shorter: the servers here sit on the same
 * host). No lease by timeoutMs is a DhcpError with code ETIMEDOUT naming the
 * interface.
 *
 * Limits: the lease is taken, not kept - no RENEWING or REBINDING, no RELEASE
 * (passt's leases never end: lease time 0xffffffff, reported as Infinity); no
 * ARP probe of the offered address (DECLINE); option overload (52) and
 * classless static routes (121) are not read (passt sends 121 only for a
 * gateway outside the subnet, which it never configures); a reply whose UDP
 * checksum a NIC still has to finish (CHECKSUM_PARTIAL, from a kernel on a
 * netSwitch with offloads) fails the checksum check and is dropped.
 */
import { LinuxError } from '../errors.js'
import type { Constants, Syscalls } from '../generated/kernel-api.js'
import { formatIp } from './address.js'

export const DHCP_SERVER_PORT = 67
export const DHCP_CLIENT_PORT = 68
export const BOOTREQUEST = 1
export const BOOTREPLY = 2
export const DHCPDISCOVER = 1
export const DHCPOFFER = 2
export const DHCPREQUEST = 3
export const DHCPACK = 5
export const DHCPNAK = 6

export const OPT_SUBNET_MASK = 1
export const OPT_ROUTER = 3
export const OPT_DNS = 6
export const OPT_REQUESTED_IP = 50
export const OPT_LEASE_TIME = 51
export const OPT_MESSAGE_TYPE = 53
export const OPT_SERVER_ID = 54
export const OPT_PARAMETERS = 55
const OPT_PAD = 0
const OPT_END = 255

const MAGIC = 0x63825363
/** op … file: the fixed BOOTP part before the magic cookie (RFC 2131 2). */
const FIXED = 236
/** BOOTP's minimum message (RFC 1542 2.1): old relays and servers drop shorter ones. */
const MIN_MESSAGE = 300
const IP_HEADER = 20
const UDP_HEADER = 8
const IPPROTO_UDP = 17
const ETH_P_IP = 0x0800
const ETH_HTYPE = 1
const BROADCAST_MAC = new Uint8Array(6).fill(0xff)
const ANY = new Uint8Array(4)
const BROADCAST_IP = new Uint8Array(4).fill(0xff)
/** sizeof(struct sockaddr_ll). */
const SOCKADDR_LL = 20
/** Room for any IPv4 packet a 1500-byte MTU carries, and then some. */
const RECEIVE_BUFFER = 2048

/** The first wait for an answer; it doubles up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 500
const RETRY_MAX_MS = 8000
const DEFAULT_TIMEOUT_MS = 10_000
/** RFC 2131 3.3: a lease time of all ones is infinite. */
const INFINITE_LEASE = 0xffffffff

/** A plain Uint8Array copy of bytes[from, to) (a Buffer's slice would be a Buffer). */
const copy = (bytes: Uint8Array, from: number, to: number): Uint8Array => new Uint8Array(bytes.subarray(from, to))

/** A DHCP message, as sent or received (the BOOTP fields the client uses, and the options). */
export interface DhcpMessage {
  /** BOOTREQUEST or BOOTREPLY. */
  readonly op: number
  readonly xid: number
  readonly flags: number
  /** 4 bytes each, network order. */
  readonly ciaddr: Uint8Array
  readonly yiaddr: Uint8Array
  readonly siaddr: Uint8Array
  /** The client's MAC (the first 6 bytes of chaddr). */
  readonly chaddr: Uint8Array
  /** Option 53: DHCPDISCOVER … DHCPNAK; 0 for a plain BOOTP message. */
  readonly type: number
  /** Every other option by code; one that appears more than once is concatenated (RFC 3396). */
  readonly options: ReadonlyMap<number, Uint8Array>
}

/** What a server handed out. */
export interface DhcpLease {
  /** 'a.b.c.d/len', as k.net.addAddress takes it. */
  readonly address: string
  /** The default gateway (option 3's first), if the server gave one. */
  readonly router?: string
  /** The name servers (option 6), in the server's order. */
  readonly dns: readonly string[]
  /** Option 51; Infinity for a lease that never ends. */
  readonly leaseSeconds: number
  /** The server's identifier (option 54), or the address the ACK came from. */
  readonly server: string
}

export interface DhcpOptions {
  /** Give up after this long without a lease; 10 s by default. */
  timeoutMs?: number
}

/** No lease in time (code ETIMEDOUT): a LinuxError that names the interface. */
export class DhcpError extends LinuxError {
  override name = 'DhcpError'
  constructor(errno: number, code: string, readonly device: string, detail: string) {
    super(errno, code, 'dhcp')
    this.message = `dhcp ${device}: ${code}: ${detail}`
  }
}

/** The message's bytes (the UDP payload), options in the order given, padded to BOOTP's 300. */
export function encodeDhcp(message: Omit<DhcpMessage, 'options'> & { readonly options?: ReadonlyMap<number, Uint8Array> }): Uint8Array {
  const options: Uint8Array[] = []
  const add = (code: number, data: Uint8Array): void => {
    // An option longer than 255 bytes goes out as several of the same code (RFC 3396).
    for (let at = 0; at === 0 || at < data.length; at += 255) {
      const part = data.subarray(at, at + 255)
      options.push(Uint8Array.of(code, part.length), part)
    }
  }
  if (message.type !== 0) add(OPT_MESSAGE_TYPE, Uint8Array.of(message.type))
  for (const [code, data] of message.options ?? []) add(code, data)
  options.push(Uint8Array.of(OPT_END))
  const optionBytes = options.reduce((n, o) => n + o.length, 0)
  const bytes = new Uint8Array(Math.max(MIN_MESSAGE, FIXED + 4 + optionBytes))
  const view = new DataView(bytes.buffer)
  bytes[0] = message.op
  bytes[1] = ETH_HTYPE
  bytes[2] = 6
  view.setUint32(4, message.xid >>> 0)
  view.setUint16(10, message.flags)
  bytes.set(message.ciaddr, 12)
  bytes.set(message.yiaddr, 16)
  bytes.set(message.siaddr, 20)
  bytes.set(message.chaddr.subarray(0, 6), 28)
  view.setUint32(FIXED, MAGIC)
  let at = FIXED + 4
  for (const o of options) {
    bytes.set(o, at)
    at += o.length
  }
  return bytes
}

/** A DHCP message from its bytes, or null for one that is not (too short, no magic cookie, an option past the end). */
export function decodeDhcp(bytes: Uint8Array): DhcpMessage | null {
  if (bytes.length < FIXED + 4) return null
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(FIXED) !== MAGIC || bytes[1] !== ETH_HTYPE || bytes[2] !== 6) return null
  const options = new Map<number, Uint8Array>()
  for (let at = FIXED + 4; at < bytes.length;) {
    const code = bytes[at] ?? OPT_END
    if (code === OPT_END) break
    if (code === OPT_PAD) {
      at++
      continue
    }
    const length = bytes[at + 1]
    if (length === undefined || at + 2 + length > bytes.length) return null
    const data = copy(bytes, at + 2, at + 2 + length)
    const before = options.get(code)
    options.set(code, before === undefined ? data : Uint8Array.from([...before, ...data]))
    at += 2 + length
  }
  const type = options.get(OPT_MESSAGE_TYPE)
  options.delete(OPT_MESSAGE_TYPE)
  return {
    op: bytes[0] ?? 0,
    xid: view.getUint32(4),
    flags: view.getUint16(10),
    ciaddr: copy(bytes, 12, 16),
    yiaddr: copy(bytes, 16, 20),
    siaddr: copy(bytes, 20, 24),
    chaddr: copy(bytes, 28, 34),
    type: type?.length === 1 ? (type[0] ?? 0) : 0,
    options,
  }
}

/** The Internet checksum (RFC 1071) of the pieces, as if concatenated (each of even length but the last). */
function checksum(...pieces: Uint8Array[]): number {
  let sum = 0
  for (const piece of pieces) {
    let i = 0
    for (; i + 1 < piece.length; i += 2) sum += ((piece[i] ?? 0) << 8) | (piece[i + 1] ?? 0)
    if (i < piece.length) sum += (piece[i] ?? 0) << 8
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** The pseudo-header a UDP checksum covers (RFC 768). */
function pseudoHeader(src: Uint8Array, dst: Uint8Array, udpLength: number): Uint8Array {
  const bytes = new Uint8Array(12)
  bytes.set(src, 0)
  bytes.set(dst, 4)
  bytes[9] = IPPROTO_UDP
  new DataView(bytes.buffer).setUint16(10, udpLength)
  return bytes
}

export interface Udp4Datagram {
  /** 4 bytes each, network order. */
  readonly src: Uint8Array
  readonly dst: Uint8Array
  readonly srcPort: number
  readonly dstPort: number
  readonly payload: Uint8Array
}

/** An IPv4 packet (20-byte header, TTL 64) carrying one UDP datagram, both checksums filled in. */
export function encodeUdp4(d: Udp4Datagram): Uint8Array {
  const udpLength = UDP_HEADER + d.payload.length
  const bytes = new Uint8Array(IP_HEADER + udpLength)
  const view = new DataView(bytes.buffer)
  bytes[0] = 0x45
  view.setUint16(2, bytes.length)
  bytes[8] = 64
  bytes[9] = IPPROTO_UDP
  bytes.set(d.src, 12)
  bytes.set(d.dst, 16)
  view.setUint16(10, checksum(bytes.subarray(0, IP_HEADER)))
  view.setUint16(IP_HEADER, d.srcPort)
  view.setUint16(IP_HEADER + 2, d.dstPort)
  view.setUint16(IP_HEADER + 4, udpLength)
  bytes.set(d.payload, IP_HEADER + UDP_HEADER)
  // A computed 0 goes out as all ones: 0 means "no checksum" (RFC 768).
  view.setUint16(IP_HEADER + 6, checksum(pseudoHeader(d.src, d.dst, udpLength), bytes.subarray(IP_HEADER)) || 0xffff)
  return bytes
}

/**
 * The UDP datagram in an IPv4 packet, or null for anything else: another
 * protocol, a fragment, a length that does not add up, a header or UDP
 * checksum that is wrong (a UDP checksum of 0 means none was computed).
 */
export function decodeUdp4(packet: Uint8Array): Udp4Datagram | null {
  if (packet.length < IP_HEADER + UDP_HEADER || (packet[0] ?? 0) >> 4 !== 4) return null
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  const headerLength = ((packet[0] ?? 0) & 0xf) * 4
  const total = view.getUint16(2)
  // More fragments, or an offset: a piece of a datagram, which DHCP never needs.
  if (headerLength < IP_HEADER || total > packet.length || total < headerLength + UDP_HEADER || (view.getUint16(6) & 0x3fff) !== 0) return null
  if (packet[9] !== IPPROTO_UDP || checksum(packet.subarray(0, headerLength)) !== 0) return null
  const udp = packet.subarray(headerLength, total)
  const udpLength = view.getUint16(headerLength + 4)
  if (udpLength < UDP_HEADER || udpLength > udp.length) return null
  const src = copy(packet, 12, 16)
  const dst = copy(packet, 16, 20)
  if (view.getUint16(headerLength + 6) !== 0 && checksum(pseudoHeader(src, dst, udpLength), udp.subarray(0, udpLength)) !== 0) return null
  return { src, dst, srcPort: view.getUint16(headerLength), dstPort: view.getUint16(headerLength + 2), payload: copy(udp, UDP_HEADER, udpLength) }
}

/** The prefix length of a netmask, or null for one that is not a run of ones then zeros. */
function maskLength(mask: Uint8Array): number | null {
  const bits = new DataView(mask.buffer, mask.byteOffset, 4).getUint32(0)
  const length = Math.clz32(~bits)
  return length === 32 || (bits << length) === 0 ? length : null
}

/** The lease an ACK gives. */
export function leaseOf(ack: DhcpMessage, from: Uint8Array): DhcpLease {
  const mask = ack.options.get(OPT_SUBNET_MASK)
  const first = ack.yiaddr[0] ?? 0
  // Without option 1 the address's class decides (RFC 2131 leaves it to the client; this is what ip=dhcp did).
  const classful = first < 128 ? 8 : first < 192 ? 16 : 24
  const prefix = mask?.length === 4 ? (maskLength(mask) ?? classful) : classful
  const router = ack.options.get(OPT_ROUTER)
  const dns = ack.options.get(OPT_DNS) ?? new Uint8Array(0)
  const time = ack.options.get(OPT_LEASE_TIME)
  const seconds = time?.length === 4 ? new DataView(time.buffer, time.byteOffset, 4).getUint32(0) : INFINITE_LEASE
  const server = ack.options.get(OPT_SERVER_ID)
  return {
    address: `${formatIp(ack.yiaddr)}/${prefix}`,
    ...(router !== undefined && router.length >= 4 ? { router: formatIp(router.subarray(0, 4)) } : {}),
    dns: Array.from({ length: Math.floor(dns.length / 4) }, (_, i) => formatIp(dns.subarray(4 * i, 4 * i + 4))),
    leaseSeconds: seconds === INFINITE_LEASE ? Infinity : seconds,
    server: formatIp(server?.length === 4 ? server : from),
  }
}

/** What the client needs of a kernel. */
export interface DhcpKernel {
  readonly sys: Syscalls
  readonly constants: Constants
}

/** The interface to ask for: its ifindex, name (for errors) and MAC. */
export interface DhcpInterface {
  readonly index: number
  readonly name: string
  readonly mac: Uint8Array
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * Ask the link of an interface (up already) for a lease: DISCOVER, OFFER,
 * REQUEST, ACK, sent again with backoff, started over on a NAK. Resolves with
 * the lease; applying it is the caller's.
 */
export async function requestLease(k: DhcpKernel, iface: DhcpInterface, options: DhcpOptions = {}): Promise<DhcpLease> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, not ${timeoutMs}`)
  const deadline = Date.now() + timeoutMs
  const { sys, constants: c } = k
  // The protocol is in network order, for socket() and sockaddr_ll alike.
  const protocol = ((ETH_P_IP & 0xff) << 8) | (ETH_P_IP >> 8)
  const fd = await sys.socket(c.AF_PACKET, c.SOCK_DGRAM | c.SOCK_CLOEXEC, protocol)
  try {
    const local = new Uint8Array(SOCKADDR_LL)
    const localView = new DataView(local.buffer)
    localView.setUint16(0, c.AF_PACKET, true)
    localView.setUint16(2, protocol, true)
    localView.setInt32(4, iface.index, true)
    await sys.bind(fd, local, local.length)
    // Every message goes to the broadcast MAC (and 255.255.255.255): the client has no address, and
    // knows no server's MAC.
    const remote = local.slice()
    remote[11] = 6
    remote.set(BROADCAST_MAC, 12)
    const send = async (message: DhcpMessage): Promise<void> => {
      const packet = encodeUdp4({ src: ANY, dst: BROADCAST_IP, srcPort: DHCP_CLIENT_PORT, dstPort: DHCP_SERVER_PORT, payload: encodeDhcp(message) })
      await sys.sendto(fd, packet, packet.length, 0, remote, remote.length)
    }
    const buffer = new Uint8Array(RECEIVE_BUFFER)
    const timeout = new Uint8Array(16)
    /** The next reply to xid for this NIC, or null once until (a time) has passed. */
    const receive = async (xid: number, until: number): Promise<{ message: DhcpMessage, from: Uint8Array } | null> => {
      for (;;) {
        const wait = until - Date.now()
        if (wait <= 0) return null
        // struct __kernel_sock_timeval: two s64, seconds and microseconds. 0 would mean "for ever".
        const view = new DataView(timeout.buffer)
        view.setBigInt64(0, BigInt(Math.floor(wait / 1000)), true)
        view.setBigInt64(8, BigInt(Math.max(1, (wait % 1000) * 1000)), true)
        await sys.setsockopt(fd, c.SOL_SOCKET, c.SO_RCVTIMEO_NEW, timeout, timeout.length)
        let n: number
        try {
          n = await sys.recvfrom(fd, buffer, buffer.length, 0, null, null)
        } catch (error) {
          if (error instanceof LinuxError && error.errno === c.EAGAIN) continue
          throw error
        }
        const datagram = decodeUdp4(buffer.subarray(0, n))
        if (datagram === null || datagram.srcPort !== DHCP_SERVER_PORT || datagram.dstPort !== DHCP_CLIENT_PORT) continue
        const message = decodeDhcp(datagram.payload)
        // Another client's transaction, or another of ours that was given up: not an answer.
        if (message === null || message.op !== BOOTREPLY || message.xid !== xid || !sameBytes(message.chaddr, iface.mac)) continue
        return { message, from: datagram.src }
      }
    }
    /** Send message until a reply that accept takes comes back; null at the deadline. */
    const exchange = async (message: DhcpMessage, accept: (reply: DhcpMessage) => boolean): Promise<{ message: DhcpMessage, from: Uint8Array } | null> => {
      for (let retry = RETRY_FIRST_MS; Date.now() < deadline; retry = Math.min(2 * retry, RETRY_MAX_MS)) {
        await send(message)
        const until = Math.min(deadline, Date.now() + retry)
        for (;;) {
          const reply = await receive(message.xid, until)
          if (reply === null) break
          if (accept(reply.message)) return reply
        }
      }
      return null
    }
    const parameters = new Map([[OPT_PARAMETERS, Uint8Array.of(OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_LEASE_TIME, OPT_SERVER_ID)]])
    const base = { op: BOOTREQUEST, flags: 0, ciaddr: ANY, yiaddr: ANY, siaddr: ANY, chaddr: iface.mac }
    let naks = 0
    for (;;) {
      const xid = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0
      const offer = await exchange({ ...base, xid, type: DHCPDISCOVER, options: parameters }, (m) => m.type === DHCPOFFER && !sameBytes(m.yiaddr, ANY))
      if (offer === null) break
      const server = offer.message.options.get(OPT_SERVER_ID) ?? offer.from
      const request = new Map([[OPT_REQUESTED_IP, offer.message.yiaddr], [OPT_SERVER_ID, server], ...parameters])
      // The answer must come from the server whose offer was taken (another one's ACK or NAK is not for this REQUEST).
      const fromServer = (m: DhcpMessage): boolean => sameBytes(m.options.get(OPT_SERVER_ID) ?? server, server)
      const answer = await exchange({ ...base, xid, type: DHCPREQUEST, options: request },
        (m) => fromServer(m) && (m.type === DHCPNAK || (m.type === DHCPACK && sameBytes(m.yiaddr, offer.message.yiaddr))))
      if (answer === null) break
      if (answer.message.type === DHCPACK) return leaseOf(answer.message, answer.from)
      // NAK: the offer is gone; start over with a new transaction (RFC 2131 3.1.5).
      naks++
    }
    const errno = c.ETIMEDOUT
    throw new DhcpError(errno, 'ETIMEDOUT', iface.name, `no lease within ${timeoutMs} ms${naks > 0 ? ` (${naks} NAK${naks > 1 ? 's' : ''})` : ''}`)
  } finally {
    await sys.close(fd).catch(() => undefined)
  }
}
