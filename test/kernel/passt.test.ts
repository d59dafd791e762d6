// SPDX-License-Identifier: MIT
/**
 * passt.test.ts - a kernel on Debian's passt (passtNic), configured by
 * k.net.dhcp() from passt's own DHCP server: the lease is what passt was told
 * (-a/-n/-g), or with address: 'host' what passt derives from the host (its
 * default route's interface address and gateway, read here from node:os and
 * /proc/net/route; the DNS server from /etc/resolv.conf). Then the kernel
 * reaches a Node net server on the host's loopback through the lease's router,
 * a host net client reaches a server inside the kernel through a TCP port
 * forward, each exchange checked with a sha256 of what arrived; a host dgram
 * socket reaches a UDP server in the kernel through a UDP forward and the
 * kernel reaches a host dgram server through passt's NAT. Halting the kernel
 * stops passt (its process is gone); a missing passt binary is an ENOENT
 * error naming the package. Needs passt (scripts/install-toolchain.sh
 * --test-tools).
 */
import { createHash } from 'node:crypto'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PasstBackend, passtNic } from '../../src/devices/net/passt.js'
import { type Kernel, startKernel } from '../../src/index.js'
import type { DhcpLease } from '../../src/net/index.js'
import { freePort } from '../support/ports.js'
import { readAll } from '../support/streams.js'

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length)
  let x = seed * 2654435761
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}


/** A host UDP port free right now on 127.0.0.1. */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4')
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  const { port } = socket.address()
  socket.close()
  return port
}

/** IPv4 nameservers of /etc/resolv.conf, as passt hands them out: a loopback one becomes the gateway. */
function hostNameservers(gateway: string): string[] {
  const text = readFileSync('/etc/resolv.conf', 'utf8')
  return [...text.matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => (m[1] ?? '').startsWith('127.') ? gateway : m[1] ?? '')
}

/** The gateway of a default route in /proc/net/route's text (addresses as little-endian u32 hex), or null. */
function gatewayOf(table: string): { name: string, gateway: string } | null {
  for (const line of table.split('\n').slice(1)) {
    const [name = '', destination, hex = ''] = line.split('\t')
    if (destination !== '00000000') continue
    return { name, gateway: [0, 1, 2, 3].map((i) => Number.parseInt(hex.slice(6 - 2 * i, 8 - 2 * i), 16)).join('.') }
  }
  return null
}

/** The kernel's default gateway, from its /proc/net/route. */
async function defaultGateway(k: Kernel): Promise<string | null> {
  await k.sys.mkdirat(k.constants.AT_FDCWD, '/proc', 0o755).catch(() => undefined)
  await k.sys.mount('proc', '/proc', 'proc', 0, null).catch(() => undefined)
  return gatewayOf(await k.fs.readFile('/proc/net/route', 'utf8'))?.gateway ?? null
}

/** The host's IPv4 default route, as passt finds it: its interface's first address with prefix, and its gateway. */
function hostDefaultRoute(): { address: string, gateway: string } | null {
  const route = gatewayOf(readFileSync('/proc/net/route', 'utf8'))
  const address = route === null ? undefined : os.networkInterfaces()[route.name]?.find((a) => a.family === 'IPv4')
  return route === null || address?.cidr === undefined || address.cidr === null ? null : { address: address.cidr, gateway: route.gateway }
}

const htons = (port: number): number => ((port & 0xff) << 8) | (port >> 8)

const ipv4 = (text: string): Uint8Array => Uint8Array.from(text.split('.'), Number)

/** Whether process pid exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

describe('passt', () => {
  let k: Kernel
  let backend: PasstBackend
  let lease: DhcpLease
  let gateway: string
  const GUEST_PORT = 8080
  const GUEST_UDP_PORT = 5353
  let hostPort: number
  let hostUdpPort: number

  beforeAll(async () => {
    hostPort = await freePort()
    hostUdpPort = await freeUdpPort()
    backend = passtNic({ address: '10.0.2.15/24', gateway: '10.0.2.2', forward: { tcp: [[hostPort, GUEST_PORT]], udp: [[hostUdpPort, GUEST_UDP_PORT]] } })
    k = await startKernel({ nics: [backend] })
    const [eth] = k.net.nics
    if (eth === undefined) throw new Error('no NIC')
    lease = await k.net.dhcp(eth)
    gateway = lease.router ?? ''
  })
  afterAll(async () => {
    await k.halt().catch(() => undefined)
  })

  it("k.net.dhcp: passt's lease is what passt was told, and it is applied (address, up, default route)", async () => {
    expect(backend.guest).toEqual({ address: '10.0.2.15/24', gateway: '10.0.2.2' })
    expect(lease).toEqual({
      address: '10.0.2.15/24', router: '10.0.2.2', server: '10.0.2.2', leaseSeconds: Infinity, dns: hostNameservers('10.0.2.2'),
    })
    const eth = (await k.net.interfaces()).find((i) => i.mac === k.net.nics[0]?.mac)
    expect(eth?.up).toBe(true)
    expect(eth?.addresses.filter((a) => a.family === 'IPv4')).toEqual([{ family: 'IPv4', address: '10.0.2.15', prefixLength: 24 }])
    expect(await defaultGateway(k)).toBe('10.0.2.2')
    // Asking again gives the same lease and leaves the configuration as it was (no EEXIST).
    expect(await k.net.dhcp('eth0')).toEqual(lease)
  })

  it('the kernel reaches a Node server on the host loopback through the gateway: 1 MiB up, its sha256 back', async () => {
    const payload = pattern(1024 * 1024, 7)
    // The server answers after exactly the payload, before the kernel half-closes: Debian's passt
    // (0.0~git20230309) does not pass on the host's FIN once the guest sent its own.
    const server = net.createServer((socket) => {
      const hash = createHash('sha256')
      let received = 0
      socket.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        received += chunk.length
        if (received === payload.length) socket.end(hash.digest('hex'))
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    try {
      const client = k.net.connect({ host: gateway, port: address.port })
      const answer = readAll(client)
      client.write(payload)
      expect((await answer).toString()).toBe(sha(payload))
      client.end()
    } finally {
      server.close()
    }
  })

  it('a host client reaches a server in the kernel through the TCP forward: 1 MiB, its sha256 back', async () => {
    const server = k.net.createServer((socket) => {
      const hash = createHash('sha256')
      socket.on('data', (chunk: Buffer) => hash.update(chunk))
      socket.on('end', () => socket.end(hash.digest('hex')))
    })
    await server.listen({ port: GUEST_PORT })
    try {
      const payload = pattern(1024 * 1024, 11)
      const client = net.connect({ host: '127.0.0.1', port: hostPort })
      const answer = readAll(client)
      client.end(payload)
      expect((await answer).toString()).toBe(sha(payload))
    } finally {
      await server.close()
    }
  })

  it('a host dgram socket reaches a UDP server in the kernel through the UDP forward, and gets its answer', async () => {
    const { AF_INET, SOCK_DGRAM } = k.constants
    const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0)
    const host = dgram.createSocket('udp4')
    try {
      const local = k.encode('sockaddr_in', { sin_family: AF_INET, sin_port: htons(GUEST_UDP_PORT) })
      await k.sys.bind(fd, local, local.length)
      // The server answers each datagram with its sha256, to whoever sent it.
      const served = (async () => {
        const buffer = new Uint8Array(2048)
        const from = new Uint8Array(16)
        const fromLength = Uint8Array.of(16, 0, 0, 0)
        const n = await k.sys.recvfrom(fd, buffer, buffer.length, 0, from, fromLength)
        const answer = Buffer.from(sha(buffer.subarray(0, n)))
        await k.sys.sendto(fd, answer, answer.length, 0, from, 16)
        return from
      })()
      const payload = pattern(1200, 3)
      host.bind(0, '127.0.0.1')
      await once(host, 'listening')
      const reply = once(host, 'message') as Promise<[Buffer, dgram.RemoteInfo]>
      host.send(payload, hostUdpPort, '127.0.0.1')
      const [message, from] = await reply
      expect(message.toString()).toBe(sha(payload))
      expect(from).toMatchObject({ address: '127.0.0.1', port: hostUdpPort })
      // In the kernel the datagram came from passt's gateway (the host's loopback, mapped).
      const sender = k.decode('sockaddr_in', await served)
      expect(Array.from(sender.sin_addr)).toEqual(Array.from(ipv4(gateway)))
    } finally {
      host.close()
      await k.sys.close(fd)
    }
  })

  it("the kernel reaches a host dgram server through passt's NAT and gets its answer", async () => {
    const server = dgram.createSocket('udp4')
    server.on('message', (message: Buffer, from: dgram.RemoteInfo) => server.send(sha(message), from.port, from.address))
    server.bind(0, '127.0.0.1')
    await once(server, 'listening')
    const { AF_INET, SOCK_DGRAM } = k.constants
    const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0)
    try {
      const to = k.encode('sockaddr_in', { sin_family: AF_INET, sin_port: htons(server.address().port), sin_addr: ipv4(gateway) })
      const payload = pattern(1000, 5)
      await k.sys.sendto(fd, payload, payload.length, 0, to, to.length)
      const buffer = new Uint8Array(256)
      const n = await k.sys.recvfrom(fd, buffer, buffer.length, 0, null, null)
      expect(new TextDecoder().decode(buffer.subarray(0, n))).toBe(sha(payload))
    } finally {
      server.close()
      await k.sys.close(fd)
    }
  })

  it('halting the kernel stops passt: its process is gone', async () => {
    const pid = backend.pid
    if (pid === undefined) throw new Error('passt has no pid')
    expect(alive(pid)).toBe(true)
    await k.halt()
    expect(alive(pid)).toBe(false)
    // Its forward is gone with it: nobody listens on the host port any more.
    const refused = net.connect({ host: '127.0.0.1', port: hostPort })
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
    expect(error.code).toBe('ECONNREFUSED')
  })

  it('a missing passt binary is ENOENT naming the package, and the kernel does not start', async () => {
    await expect(startKernel({ nics: [passtNic({ command: 'uklkl-no-such-passt' })] })).rejects.toMatchObject({
      code: 'ENOENT', syscall: 'spawn uklkl-no-such-passt', message: expect.stringContaining('Debian package passt'),
    })
  })
})

describe("passt with address: 'host'", () => {
  const route = hostDefaultRoute()
  let k: Kernel | null = null
  afterAll(async () => {
    await k?.halt().catch(() => undefined)
  })

  it("k.net.dhcp learns what passt derived from the host's default route; through it the kernel reaches a host server", async () => {
    // passt derives nothing on a host without an IPv4 default route; this one has one (checked, not skipped).
    expect(route, 'the host has an IPv4 default route with an address').not.toBeNull()
    if (route === null) return
    const backend = passtNic({ address: 'host' })
    expect(backend.guest).toBeNull()
    k = await startKernel({ nics: [backend] })
    const lease = await k.net.dhcp('eth0', { timeoutMs: 5000 })
    expect(lease).toEqual({ address: route.address, router: route.gateway, server: route.gateway, leaseSeconds: Infinity, dns: hostNameservers(route.gateway) })
    expect(await defaultGateway(k)).toBe(route.gateway)
    const server = net.createServer((socket) => socket.end('hello from the host'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    try {
      const answer = await readAll(k.net.connect({ host: route.gateway, port: address.port }))
      expect(answer.toString()).toBe('hello from the host')
    } finally {
      server.close()
    }
  })

  it("address: 'host' takes no gateway", () => {
    expect(() => passtNic({ address: 'host', gateway: '10.0.2.2' })).toThrow(TypeError)
  })
})
