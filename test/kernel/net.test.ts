// SPDX-License-Identifier: MIT
/**
 * net.test.ts - kernels wired to each other: two (at times three) kernels on
 * one netSwitch, each with a virtio-net NIC. LKL's net-test.c sequence (lo up,
 * the netdev's ifindex, up, an IPv4 address and prefix, a gateway, an ICMP
 * echo over a raw socket answered within a poll of 1000 ms); the interfaces
 * as k.net reports them against the kernel's own sysfs and procfs; ICMP echo,
 * UDP and TCP between kernels (8 MiB with a sha256 from node:crypto); Node's
 * own http client and server talking through the two kernels' TCP stacks (GET,
 * and POST of 1 MiB); a peer that resets (ECONNRESET, then EPIPE), a port
 * nobody listens on (ECONNREFUSED); a halted kernel that leaves the others
 * on the switch undisturbed; and two kernels whose NICs are stream sockets to a
 * Node relay (QEMU's stream netdev format: plain frames, checksums computed by
 * the kernels).
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NetSwitch, netSwitch, nic, streamSocket } from '../../src/devices/net/backends.js'
import { type Kernel, LinuxError, startKernel } from '../../src/index.js'
import type { KernelSocket, NetInterface } from '../../src/net/index.js'
import { readAll, until } from '../support/streams.js'

const MAC_A = '02:00:00:00:0a:01'
const MAC_B = '02:00:00:00:0b:01'
const MAC_C = '02:00:00:00:0c:01'
const IP_A = '10.0.0.1'
const IP_B = '10.0.0.2'
const IP_C = '10.0.0.3'

let sw: NetSwitch
let a: Kernel
let b: Kernel

beforeAll(async () => {
  sw = netSwitch()
  ;[a, b] = await Promise.all([
    startKernel({ nics: [nic(sw, { mac: MAC_A })] }),
    startKernel({ nics: [nic(sw, { mac: MAC_B })] }),
  ])
  for (const [k, ip] of [[a, IP_A], [b, IP_B]] as const) {
    await k.net.up('lo')
    const [eth] = k.net.nics
    if (eth === undefined) throw new Error('no NIC')
    await k.net.up(eth)
    await k.net.addAddress(eth, `${ip}/24`)
  }
})

afterAll(async () => {
  await Promise.all([a.halt(), b.halt()])
})

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** A deterministic pattern of length bytes. */
function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

/** A whole file of the kernel's (procfs, sysfs), mounting fstype at mountPoint first when it is not. */
async function readKernelFile(k: Kernel, file: string, fstype: string, mountPoint: string): Promise<string> {
  await k.sys.mkdirat(k.constants.AT_FDCWD, mountPoint, 0o755).catch(() => undefined)
  await k.sys.mount(fstype, mountPoint, fstype, 0, null).catch((error: unknown) => {
    if (!(error instanceof LinuxError && error.code === 'EBUSY')) throw error
  })
  const fd = await k.sys.openat(k.constants.AT_FDCWD, file, k.constants.O_RDONLY, 0)
  try {
    const chunks: Buffer[] = []
    for (;;) {
      const buffer = new Uint8Array(4096)
      const n = await k.sys.read(fd, buffer, buffer.length)
      if (n === 0) break
      chunks.push(Buffer.from(buffer.subarray(0, n)))
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    await k.sys.close(fd)
  }
}

function sockaddrIn(k: Kernel, ip: string, port: number): Uint8Array {
  const bytes = new Uint8Array(16)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, k.constants.AF_INET, true)
  view.setUint16(2, port, false)
  bytes.set(ip.split('.').map(Number), 4)
  return bytes
}

/** The Internet checksum (RFC 1071) of bytes, as in_cksum of LKL's net-test.c computes it. */
function inCksum(bytes: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/**
 * net-test.c's test_icmp: an echo request (id, sequence, payload) from a raw
 * ICMP socket of k to dst, a poll of 1000 ms, a non-blocking recv; resolves
 * with the ICMP message received (after its IP header).
 */
async function icmpEcho(k: Kernel, dst: string, id: number, sequence: number, payload: Uint8Array): Promise<Uint8Array> {
  const { AF_INET, SOCK_RAW, IPPROTO_ICMP, POLLIN, MSG_DONTWAIT } = k.constants
  const sock = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
  try {
    const request = new Uint8Array(8 + payload.length)
    const view = new DataView(request.buffer)
    view.setUint8(0, 8) // ICMP_ECHO
    view.setUint16(4, id)
    view.setUint16(6, sequence)
    request.set(payload, 8)
    view.setUint16(2, inCksum(request))
    const to = sockaddrIn(k, dst, 0)
    expect(await k.sys.sendto(sock, request, request.length, 0, to, to.length)).toBe(request.length)
    const pfd = k.encode('pollfd', { fd: sock, events: POLLIN })
    expect(await k.sys.ppoll_time64(pfd, 1, k.encode('timespec', { tv_sec: 1 }), null, 0)).toBe(1)
    const reply = new Uint8Array(1500)
    const n = await k.sys.recvfrom(sock, reply, reply.length, MSG_DONTWAIT, null, null)
    const ihl = ((reply[0] ?? 0) & 0x0f) * 4
    return reply.slice(ihl, n)
  } finally {
    await k.sys.close(sock)
  }
}

describe("LKL's net-test.c, through the API", () => {
  let c: Kernel | null = null
  afterAll(async () => {
    if (c !== null) await c.halt().catch(() => undefined)
  })

  it('lo up, the netdev ifindex up, an IPv4 address with its prefix, a gateway, an ICMP echo answered', async () => {
    c = await startKernel({ nics: [nic(sw, { mac: MAC_C })] })
    // lkl_if_up(1): the loopback device.
    expect(await c.ifUp(1)).toBe('lo')
    const [eth] = c.net.nics
    if (eth === undefined) throw new Error('no NIC')
    const ifindex = await c.net.index(eth)
    expect(ifindex).toBeGreaterThan(1)
    expect(await c.ifUp(ifindex)).toBe(await c.net.name(eth))
    await c.net.addAddress(ifindex, `${IP_C}/24`)
    await c.net.addRoute('default', { via: IP_A })
    const reply = await icmpEcho(c, IP_B, 0, 0, new Uint8Array(0))
    expect({ type: reply[0], code: reply[1] }).toEqual({ type: 0, code: 0 })
    const routes = await readKernelFile(c, '/proc/net/route', 'proc', '/proc')
    // The default route: destination 0, the gateway 10.0.0.1 in the kernel's (little-endian) hex.
    expect(routes).toMatch(/\n\S+\t00000000\t0100000A\t0003\t/)
  })

  it('halting that kernel leaves the others on the switch undisturbed', async () => {
    expect(sw.ports).toBe(3)
    await c?.halt()
    c = null
    expect(sw.ports).toBe(2)
    // Frames for the halted kernel's address find nobody; the two left still talk.
    const reply = await icmpEcho(a, IP_B, 7, 1, Uint8Array.of(1, 2, 3))
    expect(reply[0]).toBe(0)
    const fd = await a.sys.socket(a.constants.AF_INET, a.constants.SOCK_DGRAM, 0)
    const to = sockaddrIn(a, IP_C, 9)
    expect(await a.sys.sendto(fd, Uint8Array.of(1), 1, 0, to, to.length)).toBe(1)
    await a.sys.close(fd)
    expect(a.stats().liveFibers).toBeGreaterThan(0)
  })
})

describe('interfaces', () => {
  it('k.net.interfaces() agrees with the kernel: up, running, the MAC given, the address (sysfs, procfs)', async () => {
    const [eth] = a.net.nics
    if (eth === undefined) throw new Error('no NIC')
    expect(eth.mac).toBe(MAC_A)
    const list = await a.net.interfaces()
    const found = list.find((i) => i.mac === MAC_A)
    expect(found).toMatchObject({ up: true, running: true, loopback: false, mtu: 1500 })
    expect(found?.addresses).toContainEqual({ family: 'IPv4', address: IP_A, prefixLength: 24 })
    const lo = list.find((i) => i.name === 'lo')
    expect(lo?.addresses).toContainEqual({ family: 'IPv4', address: '127.0.0.1', prefixLength: 8 })
    const name = found?.name ?? ''
    expect(await readKernelFile(a, `/sys/class/net/${name}/address`, 'sysfs', '/sys')).toBe(`${MAC_A}\n`)
    expect(await readKernelFile(a, `/sys/class/net/${name}/operstate`, 'sysfs', '/sys')).toBe('up\n')
    expect(await readKernelFile(a, `/sys/class/net/${name}/ifindex`, 'sysfs', '/sys')).toBe(`${found?.index}\n`)
    const fib = await readKernelFile(a, '/proc/net/fib_trie', 'proc', '/proc')
    expect(fib).toContain(`/32 host LOCAL`)
    expect(fib).toContain(IP_A)
  })

  it('down, then up again; an unknown interface is ENODEV', async () => {
    const [eth] = b.net.nics
    if (eth === undefined) throw new Error('no NIC')
    await b.net.down(eth)
    expect((await b.net.interfaces()).find((i) => i.mac === MAC_B)?.up).toBe(false)
    await b.net.up(eth)
    expect((await b.net.interfaces()).find((i) => i.mac === MAC_B)?.up).toBe(true)
    await expect(b.net.up('nosuch0')).rejects.toMatchObject({ code: 'ENODEV' })
    await expect(b.net.addAddress('nosuch0', '10.9.9.9/24')).rejects.toMatchObject({ code: 'ENODEV' })
  })

  it('a second address of the same prefix is EEXIST, from the kernel', async () => {
    await expect(a.net.addAddress('lo', '127.0.0.1/8')).rejects.toMatchObject({ code: 'EEXIST', syscall: 'RTM_NEWADDR' })
  })
})

describe('between two kernels', () => {
  it('ICMP echo: the reply carries the id, the sequence and the payload back', async () => {
    const payload = pattern(56, 3)
    const reply = await icmpEcho(a, IP_B, 0x1234, 9, payload)
    expect(reply[0]).toBe(0)
    expect(new DataView(reply.buffer).getUint16(4)).toBe(0x1234)
    expect(new DataView(reply.buffer).getUint16(6)).toBe(9)
    expect(Buffer.from(reply.subarray(8)).equals(payload)).toBe(true)
    expect(inCksum(reply)).toBe(0)
  })

  it('UDP both ways, with the sender address the kernel reports', async () => {
    const { AF_INET, SOCK_DGRAM } = a.constants
    const server = await b.sys.socket(AF_INET, SOCK_DGRAM, 0)
    const client = await a.sys.socket(AF_INET, SOCK_DGRAM, 0)
    try {
      const here = sockaddrIn(b, '0.0.0.0', 5353)
      await b.sys.bind(server, here, here.length)
      const clientAddr = sockaddrIn(a, IP_A, 4444)
      await a.sys.bind(client, clientAddr, clientAddr.length)
      const datagram = pattern(1200, 5)
      const to = sockaddrIn(a, IP_B, 5353)
      const received = b.sys.recvfrom(server, new Uint8Array(2000), 2000, 0, null, null)
      expect(await a.sys.sendto(client, datagram, datagram.length, 0, to, to.length)).toBe(datagram.length)
      expect(await received).toBe(datagram.length)
      // Now with the sender's address, and an answer to it.
      const buffer = new Uint8Array(2000)
      const from = new Uint8Array(16)
      const fromLength = Uint8Array.of(16, 0, 0, 0)
      const next = b.sys.recvfrom(server, buffer, buffer.length, 0, from, fromLength)
      await a.sys.sendto(client, datagram, datagram.length, 0, to, to.length)
      expect(await next).toBe(datagram.length)
      expect(Buffer.from(buffer.subarray(0, datagram.length)).equals(datagram)).toBe(true)
      expect(new DataView(from.buffer).getUint16(2)).toBe(4444)
      expect(Array.from(from.subarray(4, 8)).join('.')).toBe(IP_A)
      const answer = Buffer.from('answer')
      await b.sys.sendto(server, answer, answer.length, 0, from, 16)
      const back = new Uint8Array(100)
      expect(await a.sys.recvfrom(client, back, back.length, 0, null, null)).toBe(answer.length)
      expect(Buffer.from(back.subarray(0, answer.length)).toString()).toBe('answer')
    } finally {
      await Promise.all([b.sys.close(server), a.sys.close(client)])
    }
  })

  it('UDP: 8 MiB from one kernel to the other in 32 KiB datagrams (IP fragments), each acknowledged, the sha256 of what arrived equals the sent one', async () => {
    const { AF_INET, SOCK_DGRAM } = a.constants
    const DATAGRAM = 32 * 1024
    const COUNT = 256
    const data = pattern(DATAGRAM * COUNT, 11)
    const server = await b.sys.socket(AF_INET, SOCK_DGRAM, 0)
    const client = await a.sys.socket(AF_INET, SOCK_DGRAM, 0)
    try {
      const here = sockaddrIn(b, '0.0.0.0', 5354)
      await b.sys.bind(server, here, here.length)
      const to = sockaddrIn(a, IP_B, 5354)
      // Stop and wait: one datagram in flight, so no socket buffer can overflow and
      // a datagram the path loses shows as a hang (the test's timeout), not a pass.
      const receiving = (async (): Promise<string> => {
        const hash = createHash('sha256')
        const buffer = new Uint8Array(4 + DATAGRAM)
        const from = new Uint8Array(16)
        for (let seq = 0; seq < COUNT; seq++) {
          const n = await b.sys.recvfrom(server, buffer, buffer.length, 0, from, Uint8Array.of(16, 0, 0, 0))
          expect(n).toBe(4 + DATAGRAM)
          expect(new DataView(buffer.buffer).getUint32(0)).toBe(seq)
          hash.update(buffer.subarray(4, n))
          await b.sys.sendto(server, buffer.subarray(0, 4), 4, 0, from, 16)
        }
        return hash.digest('hex')
      })()
      const datagram = new Uint8Array(4 + DATAGRAM)
      const ack = new Uint8Array(4)
      for (let seq = 0; seq < COUNT; seq++) {
        new DataView(datagram.buffer).setUint32(0, seq)
        datagram.set(data.subarray(seq * DATAGRAM, (seq + 1) * DATAGRAM), 4)
        expect(await a.sys.sendto(client, datagram, datagram.length, 0, to, to.length)).toBe(datagram.length)
        expect(await a.sys.recvfrom(client, ack, 4, 0, null, null)).toBe(4)
        expect(new DataView(ack.buffer).getUint32(0)).toBe(seq)
      }
      expect(await receiving).toBe(sha(data))
    } finally {
      await Promise.all([b.sys.close(server), a.sys.close(client)])
    }
  })

  it('TCP: 8 MiB from one kernel to the other, the sha256 of what arrived equals the sent one, then back', async () => {
    const payload = pattern(8 * 1024 * 1024, 11)
    const [nicB] = b.net.nics
    const before = { bytes: nicB?.stats.rxBytes ?? 0, frames: nicB?.stats.rxFrames ?? 0 }
    let accepted: KernelSocket | null = null
    const server = b.net.createServer((socket) => {
      accepted = socket
      // The server sends back the hash of what it got, then closes.
      const hash = createHash('sha256')
      let count = 0
      socket.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        count += chunk.length
      })
      socket.on('end', () => socket.end(`${count} ${hash.digest('hex')}`))
    })
    const { port } = await server.listen({ port: 0 })
    const client = a.net.connect({ host: IP_B, port })
    const answer = readAll(client)
    await once(client, 'connect')
    expect({ local: client.localAddress, remote: client.remoteAddress, port: client.remotePort }).toEqual({ local: IP_A, remote: IP_B, port })
    client.end(payload)
    expect((await answer).toString()).toBe(`${payload.length} ${sha(payload)}`)
    expect(accepted).not.toBeNull()
    expect((accepted as KernelSocket | null)?.remoteAddress).toBe(IP_A)
    await server.close()
    // The TSO offload was used: frames far larger than the MTU crossed the switch.
    expect((nicB?.stats.rxBytes ?? 0) - before.bytes).toBeGreaterThan(payload.length)
    expect((nicB?.stats.rxFrames ?? 0) - before.frames).toBeLessThan(payload.length / 1500)
  })

  it("Node's http client and server through both kernels: GET, and POST of 1 MiB", async () => {
    const body = pattern(1024 * 1024, 21)
    const httpServer = http.createServer((req, res) => {
      const hash = createHash('sha256')
      let length = 0
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        length += chunk.length
      })
      req.on('end', () => {
        if (req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
          res.end(body)
        } else {
          res.writeHead(201, { 'x-length': String(length) })
          res.end(hash.digest('hex'))
        }
      })
    })
    const server = b.net.createServer((socket) => httpServer.emit('connection', socket))
    const { port } = await server.listen({ port: 8080 })
    const request = (method: string, payload?: Buffer): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: Buffer }> =>
      new Promise((resolve, reject) => {
        const req = http.request({
          method, host: IP_B, port, path: '/data',
          createConnection: () => a.net.connect({ host: IP_B, port }) as unknown as import('node:net').Socket,
        }, (res) => {
          readAll(res).then((data) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }), reject)
        })
        req.on('error', reject)
        req.end(payload)
      })
    const got = await request('GET')
    expect(got.status).toBe(200)
    expect(got.headers['content-length']).toBe(String(body.length))
    expect(sha(got.body)).toBe(sha(body))
    const posted = await request('POST', body)
    expect(posted.status).toBe(201)
    expect(posted.headers['x-length']).toBe(String(body.length))
    expect(posted.body.toString()).toBe(sha(body))
    await server.close()
    httpServer.close()
  })

  it('a peer that resets: the reader gets ECONNRESET, a later send EPIPE', async () => {
    const { SOL_SOCKET, SO_LINGER } = b.constants
    const server = b.net.createServer((socket) => {
      socket.once('data', () => {
        // SO_LINGER on with a timeout of 0: close() sends RST instead of FIN.
        const fd = socket.fd
        if (fd === null) return
        void b.sys.setsockopt(fd, SOL_SOCKET, SO_LINGER, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0), 8).then(() => socket.destroy())
      })
    })
    const { port } = await server.listen({ port: 0 })
    const client = a.net.connect({ host: IP_B, port })
    client.write('hello')
    const [error] = (await once(client, 'error')) as [LinuxError]
    expect(error).toBeInstanceOf(LinuxError)
    expect({ code: error.code, errno: error.errno, syscall: error.syscall }).toEqual({ code: 'ECONNRESET', errno: a.constants.ECONNRESET, syscall: 'read' })
    // The same through k.sys: after the reset is reported, sending is EPIPE (MSG_NOSIGNAL: no signal).
    const fd = await a.sys.socket(a.constants.AF_INET, a.constants.SOCK_STREAM, 0)
    const to = sockaddrIn(a, IP_B, port)
    await a.sys.connect(fd, to, to.length)
    await a.sys.sendto(fd, Buffer.from('hello'), 5, 0, null, 0)
    await expect(a.sys.recvfrom(fd, new Uint8Array(10), 10, 0, null, null)).rejects.toMatchObject({ code: 'ECONNRESET' })
    await expect(a.sys.sendto(fd, Buffer.from('more'), 4, a.constants.MSG_NOSIGNAL, null, 0)).rejects.toMatchObject({ code: 'EPIPE' })
    await a.sys.close(fd)
    await server.close()
  })

  it('a port nobody listens on: ECONNREFUSED from the peer kernel', async () => {
    const client = a.net.connect({ host: IP_B, port: 1 })
    const [error] = (await once(client, 'error')) as [LinuxError]
    expect({ code: error.code, syscall: error.syscall }).toEqual({ code: 'ECONNREFUSED', syscall: 'connect' })
  })

  it('the devices counted every frame and found none malformed', () => {
    for (const k of [a, b]) {
      const stats = k.net.nics[0]?.stats
      expect(stats?.txFrames).toBeGreaterThan(100)
      expect(stats?.rxFrames).toBeGreaterThan(100)
      expect({ rxErrors: stats?.rxErrors, txErrors: stats?.txErrors }).toEqual({ rxErrors: 0, txErrors: 0 })
    }
  })
})

describe('streamSocket: two kernels through a Node relay of length-prefixed frames', () => {
  it('ICMP and 1 MiB of TCP cross as plain frames (no offloads: the kernels checksum and segment); the relay gone, carrier off', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'uklkl-relay-'))
    const where = path.join(dir, 'relay.sock')
    // The relay joins its first two connections byte for byte: the framing passes through unchanged.
    const peers: net.Socket[] = []
    const relay = net.createServer((socket) => {
      peers.push(socket)
      const [first, second] = peers
      if (first !== undefined && second !== undefined) {
        first.pipe(second)
        second.pipe(first)
      }
    })
    relay.listen(where)
    await once(relay, 'listening')
    const [c, d] = await Promise.all([
      startKernel({ nics: [streamSocket(where, { mac: '02:00:00:00:0c:02' })] }),
      startKernel({ nics: [streamSocket(where, { mac: '02:00:00:00:0d:02' })] }),
    ])
    try {
      for (const [k, ip] of [[c, '10.1.0.1/24'], [d, '10.1.0.2/24']] as const) {
        const [eth] = k.net.nics
        if (eth === undefined) throw new Error('no NIC')
        await k.net.up(eth)
        await k.net.addAddress(eth, ip)
      }
      const reply = await icmpEcho(c, '10.1.0.2', 5, 6, pattern(100, 1))
      expect(reply[0]).toBe(0)
      const payload = pattern(1024 * 1024, 31)
      const server = d.net.createServer((socket) => {
        const hash = createHash('sha256')
        socket.on('data', (chunk: Buffer) => hash.update(chunk))
        socket.on('end', () => socket.end(hash.digest('hex')))
      })
      const { port } = await server.listen({ port: 9000 })
      const client = c.net.connect({ host: '10.1.0.2', port })
      const answer = readAll(client)
      client.end(payload)
      expect((await answer).toString()).toBe(sha(payload))
      await server.close()
      const stats = d.net.nics[0]?.stats
      // Every frame within the MTU: no segment crossed whole.
      expect(stats?.rxFrames).toBeGreaterThan(payload.length / 1514)
      expect({ rxErrors: stats?.rxErrors, txErrors: stats?.txErrors }).toEqual({ rxErrors: 0, txErrors: 0 })
      // The relay going away takes the link down: on the host side, and in each kernel (carrier off).
      const ethOf = async (k: Kernel): Promise<NetInterface | undefined> => (await k.net.interfaces()).find((i) => !i.loopback)
      const carrier = async (k: Kernel): Promise<string> => readKernelFile(k, `/sys/class/net/${(await ethOf(k))?.name ?? ''}/carrier`, 'sysfs', '/sys')
      expect(await carrier(c)).toBe('1\n')
      expect((await ethOf(c))?.running).toBe(true)
      for (const peer of peers) peer.destroy()
      relay.close()
      await until(() => c.net.nics[0]?.backend.linkUp === false)
      for (const k of [c, d]) {
        await until(async () => (await carrier(k)) === '0\n')
        expect(await ethOf(k)).toMatchObject({ up: true, running: false })
      }
    } finally {
      await Promise.all([c.halt(), d.halt()])
      await rm(dir, { recursive: true, force: true })
    }
  })
})
