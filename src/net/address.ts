// SPDX-License-Identifier: MIT
/**
 * address.ts - IP addresses and socket addresses as the kernel takes them:
 * text ⇄ bytes for IPv4 and IPv6, 'a.b.c.d/len' prefixes, and struct
 * sockaddr_in / sockaddr_in6 (the port in network byte order).
 *
 * Limits: literal addresses only (plus 'localhost'): there is no resolver in
 * the kernel to ask, so a host name is an ENOTFOUND-style TypeError; IPv6
 * zone ids ('%eth0') are not parsed.
 */
import { isIP } from 'node:net'

export const AF_INET = 2
export const AF_INET6 = 10
export const SOCKADDR_IN = 16
export const SOCKADDR_IN6 = 28
/** Room for any socket address accept or getsockname returns. */
export const SOCKADDR_MAX = 128

export interface IpAddress {
  readonly family: 4 | 6
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array
}

/** A literal IPv4 or IPv6 address; 'localhost' is 127.0.0.1. */
export function parseIp(text: string): IpAddress {
  const host = text === 'localhost' ? '127.0.0.1' : text.replace(/^\[(.*)\]$/, '$1')
  const kind = isIP(host)
  if (kind === 4) return { family: 4, bytes: Uint8Array.from(host.split('.'), Number) }
  if (kind === 6) return { family: 6, bytes: parseIpv6(host) }
  throw Object.assign(new TypeError(`not an IP address: ${JSON.stringify(text)} (the kernel has no resolver: give an address)`), { code: 'ENOTFOUND' })
}

function parseIpv6(host: string): Uint8Array {
  // isIP() accepted it, so only the shape is left to read.
  let text = host
  let tail: number[] = []
  const quad = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(host)
  if (quad !== null) {
    // A trailing dotted quad (::ffff:1.2.3.4) is the last two words.
    const [a = 0, b = 0, c = 0, d = 0] = (quad[2] ?? '').split('.').map(Number)
    tail = [(a << 8) | b, (c << 8) | d]
    text = quad[1] ?? ''
    if (!text.endsWith('::')) text = text.slice(0, -1)
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)))
  const halves = text.split('::')
  let words: number[]
  if (halves.length === 2) {
    const front = groups(halves[0] ?? '')
    const back = [...groups(halves[1] ?? ''), ...tail]
    words = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back]
  } else {
    words = [...groups(text), ...tail]
  }
  const bytes = new Uint8Array(16)
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8
    bytes[2 * i + 1] = w & 0xff
  })
  return bytes
}

export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  // An IPv4-mapped address keeps its dotted quad (RFC 5952 5), as Node prints it.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${Array.from(bytes.subarray(12, 16)).join('.')}`
  const words = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0))
  // The longest run of two or more zero words becomes '::' (RFC 5952).
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength) {
      best = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':')
  if (best < 0) return hex(words)
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLength))}`
}

/** 'a.b.c.d/len' or 'x::y/len'; an address without '/len' is a host (/32, /128). */
export function parsePrefix(text: string): IpAddress & { readonly length: number } {
  const [address = '', length] = text.split('/')
  const ip = parseIp(address)
  const max = ip.family === 4 ? 32 : 128
  const bits = length === undefined ? max : Number(length)
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (length !== undefined && !/^\d+$/.test(length))) {
    throw new TypeError(`not a prefix length in ${JSON.stringify(text)}`)
  }
  return { ...ip, length: bits }
}

/** struct sockaddr_in or sockaddr_in6 for ip and port. */
export function encodeSockaddr(ip: IpAddress, port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`port must be 0..65535, not ${port}`)
  const bytes = new Uint8Array(ip.family === 4 ? SOCKADDR_IN : SOCKADDR_IN6)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, ip.family === 4 ? AF_INET : AF_INET6, true)
  view.setUint16(2, port, false)
  bytes.set(ip.bytes, ip.family === 4 ? 4 : 8)
  return bytes
}

export interface SocketAddress {
  readonly address: string
  readonly family: 'IPv4' | 'IPv6'
  readonly port: number
}

/** A sockaddr_in or sockaddr_in6 as Node's address() shapes it; null for another family. */
export function decodeSockaddr(bytes: Uint8Array): SocketAddress | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 4) return null
  const family = view.getUint16(0, true)
  const port = view.getUint16(2, false)
  if (family === AF_INET && bytes.length >= SOCKADDR_IN) return { address: formatIp(bytes.subarray(4, 8)), family: 'IPv4', port }
  if (family === AF_INET6 && bytes.length >= SOCKADDR_IN6) return { address: formatIp(bytes.subarray(8, 24)), family: 'IPv6', port }
  return null
}
