// SPDX-License-Identifier: MIT
/**
 * netlink.ts - rtnetlink (NETLINK_ROUTE) as ip(8) speaks it: build a request
 * (struct nlmsghdr, then ifinfomsg / ifaddrmsg / rtmsg, then rtattrs, each
 * 4-byte aligned), send it to the kernel, read back the acknowledgement or the
 * dump, and read links and addresses out of the replies.
 *
 * A request the kernel refuses rejects with a LinuxError (code, errno, and the
 * message type as syscall, e.g. 'RTM_NEWADDR'), shaped like Node's errors.
 *
 * Limits: one request in flight per socket, answered in order; replies larger
 * than the receive buffer (64 KiB at a time) are read in several turns; only
 * the attributes k.net reports are decoded.
 */
import { LinuxError } from '../errors.js'
import type { Constants, Syscalls } from '../generated/kernel-api.js'

// uapi values not in k.constants (enums in the headers, which the constant table skips).
const NLMSG_HDR = 16
const NLMSG_ERROR = 2
const NLMSG_DONE = 3
export const IFLA_ADDRESS = 1
export const IFLA_IFNAME = 3
export const IFLA_MTU = 4
export const IFLA_OPERSTATE = 16
export const IFLA_CARRIER = 33
export const IFA_ADDRESS = 1
export const IFA_LOCAL = 2
export const RTA_DST = 1
export const RTA_OIF = 4
export const RTA_GATEWAY = 5
export const RT_TABLE_MAIN = 254
export const RTPROT_BOOT = 3
export const RT_SCOPE_UNIVERSE = 0
export const RT_SCOPE_LINK = 253
export const RTN_UNICAST = 1
const RECEIVE_BUFFER = 64 * 1024

/** One attribute: type and payload. */
export interface Attribute {
  readonly type: number
  readonly data: Uint8Array
}

/** A message as read back: its type, flags and the bytes after the header. */
export interface NetlinkMessage {
  readonly type: number
  readonly flags: number
  readonly payload: Uint8Array
}

const align4 = (n: number): number => (n + 3) & ~3

/** The bytes of attribute type holding data. */
export function attribute(type: number, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(align4(4 + data.length))
  const view = new DataView(bytes.buffer)
  view.setUint16(0, 4 + data.length, true)
  view.setUint16(2, type, true)
  bytes.set(data, 4)
  return bytes
}

export function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, value, true)
  return bytes
}

export function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`)
}

/** The attributes in bytes (after a fixed header), by type; the last of a type wins. */
export function attributes(bytes: Uint8Array): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>()
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let at = 0; at + 4 <= bytes.length;) {
    const length = view.getUint16(at, true)
    if (length < 4 || at + length > bytes.length) break
    // The top two bits are NLA_F_NESTED and NLA_F_NET_BYTEORDER.
    found.set(view.getUint16(at + 2, true) & 0x3fff, bytes.subarray(at + 4, at + length))
    at += align4(length)
  }
  return found
}

/** A NETLINK_ROUTE socket of one kernel. */
export class RouteSocket {
  readonly #sys: Syscalls
  readonly #constants: Constants
  readonly #errnoName: (errno: number) => string
  readonly #fd: number
  #seq = 0

  private constructor(sys: Syscalls, constants: Constants, errnoName: (errno: number) => string, fd: number) {
    this.#sys = sys
    this.#constants = constants
    this.#errnoName = errnoName
    this.#fd = fd
  }

  static async open(sys: Syscalls, constants: Constants, errnoName: (errno: number) => string): Promise<RouteSocket> {
    const fd = await sys.socket(constants.AF_NETLINK, constants.SOCK_RAW | constants.SOCK_CLOEXEC, constants.NETLINK_ROUTE)
    return new RouteSocket(sys, constants, errnoName, fd)
  }

  close(): Promise<number> {
    return this.#sys.close(this.#fd)
  }

  /** Send a request of type with its fixed header and attributes; resolves when the kernel acknowledged it. */
  async request(type: number, name: string, flags: number, fixed: Uint8Array, attrs: readonly Uint8Array[] = []): Promise<void> {
    const { NLM_F_REQUEST, NLM_F_ACK } = this.#constants
    await this.#exchange(type, name, NLM_F_REQUEST | NLM_F_ACK | flags, fixed, attrs, false)
  }

  /** A dump request of type; resolves with every message of the reply. */
  dump(type: number, name: string, fixed: Uint8Array): Promise<NetlinkMessage[]> {
    const { NLM_F_REQUEST, NLM_F_DUMP } = this.#constants
    return this.#exchange(type, name, NLM_F_REQUEST | NLM_F_DUMP, fixed, [], true)
  }

  async #exchange(type: number, name: string, flags: number, fixed: Uint8Array, attrs: readonly Uint8Array[], dump: boolean): Promise<NetlinkMessage[]> {
    const seq = ++this.#seq
    const length = NLMSG_HDR + align4(fixed.length) + attrs.reduce((n, a) => n + a.length, 0)
    const message = new Uint8Array(length)
    const view = new DataView(message.buffer)
    view.setUint32(0, length, true)
    view.setUint16(4, type, true)
    view.setUint16(6, flags, true)
    view.setUint32(8, seq, true)
    message.set(fixed, NLMSG_HDR)
    let at = NLMSG_HDR + align4(fixed.length)
    for (const a of attrs) {
      message.set(a, at)
      at += a.length
    }
    await this.#sys.sendto(this.#fd, message, length, 0, null, 0)
    const replies: NetlinkMessage[] = []
    const buffer = new Uint8Array(RECEIVE_BUFFER)
    for (;;) {
      const n = await this.#sys.recvfrom(this.#fd, buffer, buffer.length, 0, null, null)
      const bytes = buffer.subarray(0, n)
      const reply = new DataView(bytes.buffer, bytes.byteOffset, n)
      for (let off = 0; off + NLMSG_HDR <= n;) {
        const len = reply.getUint32(off, true)
        if (len < NLMSG_HDR || off + len > n) break
        const replyType = reply.getUint16(off + 4, true)
        const replySeq = reply.getUint32(off + 8, true)
        const payload = bytes.slice(off + NLMSG_HDR, off + len)
        off += align4(len)
        // Replies to an earlier request of this socket (none are left in flight) are not ours.
        if (replySeq !== seq) continue
        if (replyType === NLMSG_DONE) return replies
        if (replyType === NLMSG_ERROR) {
          const error = -new DataView(payload.buffer).getInt32(0, true)
          if (error !== 0) throw new LinuxError(error, this.#errnoName(error), name)
          if (!dump) return replies
          continue
        }
        replies.push({ type: replyType, flags: reply.getUint16(off - align4(len) + 6, true), payload })
      }
    }
  }
}
