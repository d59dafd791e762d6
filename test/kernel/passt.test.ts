// SPDX-License-Identifier: MIT
/**
 * passt.test.ts - a kernel on Debian's passt (passtNic): the kernel reaches a
 * Node net server on the host's loopback through passt's gateway address, a
 * host net client reaches a server inside the kernel through a TCP port
 * forward, each exchange checked with a sha256 of what arrived; halting the
 * kernel stops passt (its process is gone); a missing passt binary is an
 * ENOENT error naming the package. Needs passt (scripts/install-toolchain.sh
 * --test-tools).
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PasstBackend, passtNic } from '../../src/devices/net/passt.js'
import { type Kernel, startKernel } from '../../src/index.js'

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

async function readAll(socket: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks)
}

/** A host TCP port free right now on 127.0.0.1 (passt binds the forward itself). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

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
  const GUEST_PORT = 8080
  let hostPort: number

  beforeAll(async () => {
    hostPort = await freePort()
    backend = passtNic({ forward: { tcp: [[hostPort, GUEST_PORT]] } })
    k = await startKernel({ nics: [backend] })
    const [eth] = k.net.nics
    if (eth === undefined) throw new Error('no NIC')
    await k.net.up(eth)
    await k.net.addAddress(eth, backend.guest.address)
    await k.net.addRoute('default', { via: backend.guest.gateway })
  })
  afterAll(async () => {
    await k.halt().catch(() => undefined)
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
      const client = k.net.connect({ host: backend.guest.gateway, port: address.port })
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
