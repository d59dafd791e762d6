// SPDX-License-Identifier: MIT
/**
 * frame.ts - what crosses between a virtio-net device and its backend: an
 * Ethernet frame and the offload facts of virtio_net_hdr (virtio 1.x, 5.1.6)
 * that travel with it - a checksum the receiver still has to finish, or a TCP
 * segment larger than the MTU that the receiver takes whole - and the Internet
 * checksum used to finish one in software.
 *
 * Limits: the offloads are the ones the device offers (partial checksums, TCP
 * over IPv4 and IPv6); UDP fragmentation and ECN segments are not among them.
 */

/** VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum from csumStart on is still to be finished. */
export const HDR_F_NEEDS_CSUM = 1
/** VIRTIO_NET_HDR_F_DATA_VALID: the sender vouches for the frame's checksums. */
export const HDR_F_DATA_VALID = 2
export const GSO_NONE = 0
export const GSO_TCPV4 = 1
export const GSO_TCPV6 = 4

/** The offload half of virtio_net_hdr; all zero for a plain frame with its checksums done. */
export interface Offload {
  /** HDR_F_NEEDS_CSUM and/or HDR_F_DATA_VALID. */
  readonly flags: number
  /** GSO_NONE, GSO_TCPV4 or GSO_TCPV6. */
  readonly gsoType: number
  /** Bytes of headers before the TCP payload (a hint). */
  readonly hdrLen: number
  /** Payload bytes per segment when the frame is cut to the MTU. */
  readonly gsoSize: number
  /** With NEEDS_CSUM: the checksum covers the frame from csumStart and goes at csumStart + csumOffset. */
  readonly csumStart: number
  readonly csumOffset: number
}

export const NO_OFFLOAD: Offload = Object.freeze({ flags: 0, gsoType: GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 })

/**
 * An Ethernet frame (destination MAC first, no FCS) and its offload facts. A
 * frame is lent to send() and receive() for the length of the call: whoever
 * keeps it longer keeps a copy (the device reuses its transmit buffer).
 */
export interface Frame {
  readonly data: Uint8Array
  readonly offload: Offload
}

/** The largest frame: a 64 KiB IP packet (the most TSO makes) behind an Ethernet header with a VLAN tag. */
export const MAX_FRAME = 14 + 4 + 65535
/** The smallest: an Ethernet header. */
export const MIN_FRAME = 14

/**
 * Finish a partial checksum (NEEDS_CSUM): the ones' complement sum of the bytes
 * from start on, folded into the 16 bits already at start + offset (the sender
 * put the pseudo-header's sum there), stored back complemented. Returns a copy.
 */
export function finishChecksum(data: Uint8Array, start: number, offset: number): Uint8Array {
  const out = data.slice()
  let sum = 0
  let i = start
  // 16-bit words, big-endian, as the Internet checksum reads them (RFC 1071).
  for (; i + 1 < out.length; i += 2) sum += ((out[i] ?? 0) << 8) | (out[i + 1] ?? 0)
  if (i < out.length) sum += (out[i] ?? 0) << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  const folded = ~sum & 0xffff
  out[start + offset] = folded >>> 8
  out[start + offset + 1] = folded & 0xff
  return out
}
