// SPDX-License-Identifier: MIT
/**
 * net.ts - the network bench (issues 10 and 11), three sides in one run:
 *   switch    two kernels on a netSwitch (virtio-net, TSO and checksum
 *             offload), client in one, server in the other, via k.net streams
 *   loopback  client and server in one kernel, over 127.0.0.1
 *   node      Node's net over the host's 127.0.0.1 (the baseline)
 * Figures: TCP bulk one way (BULK_MIB in 256 KiB writes, until the receiver
 * has all of it: MB/s and Gbit/s; goal for the switch ≥ 1 Gbit/s) and a
 * request/response round trip (1 byte each way, TCP_NODELAY, µs).
 *
 * Loopback is also measured without the streams, to tell the kernel's own cost
 * from the API's: raw k.sys, a writer thread (k.thread()) writing BULK_MIB in
 * 64 KiB write()s and a reader thread read()ing them, with the bytes in a
 * KernelBuffer (k.alloc: the kernel copies straight from and into it) or in a
 * Uint8Array (k.sys copies it in and out on every call).
 *
 * Every figure is the median (with min and max) of RUNS runs after one
 * warm-up, each run on a fresh connection. The bytes are checked once per side
 * (a sha256 of what arrived against what was sent) before timing, so a fast
 * wrong answer cannot pass for a figure.
 *
 * Limits: one JS thread runs both kernels, the streams and the hashing, as in
 * an application that embeds them; the machine is shared, so figures move
 * between runs by tens of percent.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { netSwitch, nic } from '../src/devices/net/backends.js'
import { SOCKADDR_MAX, decodeSockaddr, encodeSockaddr, parseIp } from '../src/net/address.js'
import { type Kernel, startKernel } from '../src/kernel.js'
import { printTable, type Row, writeResults } from './report.js'

const RUNS = 5
const MiB = 1024 * 1024
const BULK_MIB = 64
const WRITE_SIZE = 256 * 1024
const PING_PONGS = 2000
/** Bytes per write() and read() of the raw k.sys rows. */
const RAW_CHUNK = 64 * 1024

interface Timing {
  median: number
  min: number
  max: number
}

/** How a side makes connections: a server that echoes or counts, and a client. */
interface Side {
  readonly name: string
  /** Listen; each connection gets handle. Resolves with the port and a way to stop. */
  listen(handle: (socket: Duplex) => void): Promise<{ port: number, close: () => Promise<void> }>
  connect(port: number): Promise<Duplex>
}

export function timing(samples: readonly number[]): Timing {
  const sorted = [...samples].sort((x, y) => x - y)
  return { median: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN }
}

/** The server half of a bulk run: count (and optionally hash) until the end, then answer with the count and hash. */
function sink(hash: boolean): (socket: Duplex) => void {
  return (socket) => {
    const digest = hash ? createHash('sha256') : null
    let count = 0
    socket.on('data', (chunk: Buffer) => {
      count += chunk.length
      digest?.update(chunk)
    })
    socket.on('end', () => socket.end(`${count} ${digest?.digest('hex') ?? ''}`))
    socket.on('error', () => undefined)
  }
}

/** Send bytes (BULK_MIB of them) and wait for the server's answer; resolves with the answer and the ms it took. */
async function bulk(side: Side, port: number, payload: Buffer): Promise<{ answer: string, ms: number }> {
  const socket = await side.connect(port)
  const answer: Buffer[] = []
  socket.on('data', (chunk: Buffer) => answer.push(chunk))
  const ended = once(socket, 'end')
  const start = performance.now()
  for (let at = 0; at < payload.length; at += WRITE_SIZE) {
    if (!socket.write(payload.subarray(at, at + WRITE_SIZE))) await once(socket, 'drain')
  }
  socket.end()
  await ended
  const ms = performance.now() - start
  socket.destroy()
  return { answer: Buffer.concat(answer).toString(), ms }
}

/** One byte there and back, count times; resolves with µs per round trip. */
async function pingPong(side: Side, port: number, count: number): Promise<number> {
  const socket = await side.connect(port)
  const one = Buffer.of(42)
  let left = count
  const start = performance.now()
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject)
    socket.on('data', () => {
      if (--left === 0) resolve()
      else socket.write(one)
    })
    socket.write(one)
  })
  const us = ((performance.now() - start) * 1000) / count
  socket.destroy()
  return us
}

async function measure(side: Side): Promise<Row & Record<string, number | string>> {
  const payload = Buffer.alloc(BULK_MIB * MiB)
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i)
  // Checked once: what arrived is what was sent.
  const checked = await side.listen(sink(true))
  const { answer } = await bulk(side, checked.port, payload)
  await checked.close()
  const expected = `${payload.length} ${createHash('sha256').update(payload).digest('hex')}`
  if (answer !== expected) throw new Error(`${side.name}: the server received ${answer}, not ${expected}`)
  const counting = await side.listen(sink(false))
  const bulkMs: number[] = []
  for (let run = 0; run <= RUNS; run++) {
    const { ms } = await bulk(side, counting.port, payload)
    if (run > 0) bulkMs.push(ms)
  }
  await counting.close()
  const echo = await side.listen((socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk))
    socket.on('error', () => undefined)
  })
  const rtt: number[] = []
  for (let run = 0; run <= RUNS; run++) {
    const us = await pingPong(side, echo.port, PING_PONGS)
    if (run > 0) rtt.push(us)
  }
  await echo.close()
  const mbps = timing(bulkMs.map((ms) => payload.length / 1e6 / (ms / 1000)))
  const gbit = (mbps.median * 8) / 1000
  const round = timing(rtt)
  return {
    side: side.name,
    'bulk MB/s': mbps.median,
    'min–max': `${mbps.min.toFixed(0)}–${mbps.max.toFixed(0)}`,
    'Gbit/s': gbit,
    'rtt µs': round.median,
    'rtt min–max': `${round.min.toFixed(0)}–${round.max.toFixed(0)}`,
  }
}

/** The raw k.sys rows: one connection over 127.0.0.1 per run, a writer and a reader thread. */
export async function measureRaw(k: Kernel, kernelBuffers: boolean): Promise<Row> {
  const { AF_INET, SOCK_STREAM, SHUT_WR } = k.constants
  const listener = await k.sys.socket(AF_INET, SOCK_STREAM, 0)
  const any = encodeSockaddr(parseIp('127.0.0.1'), 0)
  await k.sys.bind(listener, any, any.length)
  await k.sys.listen(listener, 4)
  const name = new Uint8Array(SOCKADDR_MAX)
  const nameLength = new Uint8Array(4)
  new DataView(nameLength.buffer).setUint32(0, SOCKADDR_MAX, true)
  await k.sys.getsockname(listener, name, nameLength)
  const port = decodeSockaddr(name.subarray(0, new DataView(nameLength.buffer).getUint32(0, true)))?.port
  if (port === undefined) throw new Error('the listener has no port')
  const total = BULK_MIB * MiB
  /** One run; with check, what arrived is compared with what was sent (a sha256 each). */
  const run = async (check: boolean): Promise<number> => {
    await using writer = await k.thread()
    await using reader = await k.thread()
    const client = await writer.sys.socket(AF_INET, SOCK_STREAM, 0)
    const remote = encodeSockaddr(parseIp('127.0.0.1'), port)
    await writer.sys.connect(client, remote, remote.length)
    const server = await reader.sys.accept4(listener, null, null, 0)
    using wk = kernelBuffers ? k.alloc(RAW_CHUNK) : null
    using rk = kernelBuffers ? k.alloc(RAW_CHUNK) : null
    const wu = new Uint8Array(RAW_CHUNK)
    const ru = new Uint8Array(RAW_CHUNK)
    // One chunk's pattern, different each time round when checking (a stuck or reordered chunk shows).
    for (let i = 0; i < RAW_CHUNK; i += 4) new DataView(wu.buffer).setUint32(i, (i * 2654435761) >>> 0, true)
    wk?.bytes.set(wu)
    const sent = check ? createHash('sha256') : null
    const received = check ? createHash('sha256') : null
    const start = performance.now()
    const writing = (async () => {
      for (let at = 0, round = 0; at < total; round++) {
        if (check) {
          const chunk = wk?.bytes ?? wu
          chunk[0] = round & 0xff
          chunk[1] = round >> 8
          sent?.update(chunk)
        }
        const n = await writer.sys.write(client, wk ?? wu, RAW_CHUNK)
        if (n !== RAW_CHUNK) throw new Error(`a blocking write took ${n} of ${RAW_CHUNK} bytes`)
        at += n
      }
      await writer.sys.shutdown(client, SHUT_WR)
    })()
    const reading = (async () => {
      let count = 0
      for (;;) {
        const n = await reader.sys.read(server, rk ?? ru, RAW_CHUNK)
        if (n === 0) return count
        received?.update((rk?.bytes ?? ru).subarray(0, n))
        count += n
      }
    })()
    const [, count] = await Promise.all([writing, reading])
    const ms = performance.now() - start
    await writer.sys.close(client)
    await reader.sys.close(server)
    if (count !== total) throw new Error(`raw loopback: ${count} bytes arrived of ${total}`)
    if (sent !== null && received !== null && sent.digest('hex') !== received.digest('hex')) {
      throw new Error('raw loopback: the bytes that arrived are not those sent')
    }
    return ms
  }
  try {
    await run(true)
    const bulkMs: number[] = []
    for (let i = 0; i < RUNS; i++) bulkMs.push(await run(false))
    const mbps = timing(bulkMs.map((ms) => total / 1e6 / (ms / 1000)))
    return {
      side: `uklkl, loopback, raw k.sys ${RAW_CHUNK / 1024} KiB, ${kernelBuffers ? 'KernelBuffer' : 'Uint8Array'}`,
      'bulk MB/s': mbps.median,
      'min–max': `${mbps.min.toFixed(0)}–${mbps.max.toFixed(0)}`,
      'Gbit/s': (mbps.median * 8) / 1000,
    }
  } finally {
    await k.sys.close(listener)
  }
}

function kernelSide(name: string, client: Kernel, server: Kernel, host: string): Side {
  return {
    name,
    async listen(handle) {
      const listener = server.net.createServer((socket) => {
        socket.setNoDelay(true)
        handle(socket)
      })
      const { port } = await listener.listen({ port: 0, host: '0.0.0.0' })
      return { port, close: () => listener.close() }
    },
    async connect(port) {
      const socket = client.net.connect({ host, port, noDelay: true })
      await once(socket, 'connect')
      return socket
    },
  }
}

const nodeSide: Side = {
  name: 'node net, 127.0.0.1',
  async listen(handle) {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true)
      handle(socket)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    return { port: address.port, close: () => new Promise((resolve) => server.close(() => resolve())) }
  },
  async connect(port) {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
    await once(socket, 'connect')
    return socket
  },
}

export async function netBench(): Promise<void> {
  // Node first: idle kernels still take timer ticks on this thread.
  const rows: Row[] = [await measure(nodeSide)]
  const sw = netSwitch()
  const [a, b] = await Promise.all([startKernel({ nics: [nic(sw)] }), startKernel({ nics: [nic(sw)] })])
  for (const [k, ip] of [[a, '10.0.0.1/24'], [b, '10.0.0.2/24']] as const) {
    await k.net.up('lo')
    const [eth] = k.net.nics
    if (eth === undefined) throw new Error('no NIC')
    await k.net.up(eth)
    await k.net.addAddress(eth, ip)
  }
  try {
    rows.push(await measure(kernelSide('uklkl, 2 kernels on a netSwitch', a, b, '10.0.0.2')))
    rows.push(await measure(kernelSide('uklkl, loopback in 1 kernel', a, a, '127.0.0.1')))
    rows.push(await measureRaw(a, true))
    rows.push(await measureRaw(a, false))
  } finally {
    await Promise.all([a.halt(), b.halt()])
  }
  printTable(`TCP, ${BULK_MIB} MiB one way in ${WRITE_SIZE / 1024} KiB writes (raw rows: ${RAW_CHUNK / 1024} KiB); ${PING_PONGS} 1-byte round trips (median of ${RUNS})`, rows)
  const file = writeResults('net', { bulkMiB: BULK_MIB, writeBytes: WRITE_SIZE, rawChunkBytes: RAW_CHUNK, pingPongs: PING_PONGS, runs: RUNS, rows })
  console.log(`results: ${file}`)
}
