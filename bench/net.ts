// SPDX-License-Identifier: MIT
/**
 * net.ts - the network bench (issue 10), three sides in one run:
 *   switch    two kernels on a netSwitch (virtio-net, TSO and checksum
 *             offload), client in one, server in the other, via k.net streams
 *   loopback  client and server in one kernel, over 127.0.0.1
 *   node      Node's net over the host's 127.0.0.1 (the baseline)
 * Figures: TCP bulk one way (BULK_MIB in 256 KiB writes, until the receiver
 * has all of it: MB/s and Gbit/s; goal for the switch ≥ 1 Gbit/s) and a
 * request/response round trip (1 byte each way, TCP_NODELAY, µs).
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
import { type Kernel, startKernel } from '../src/kernel.js'
import { printTable, type Row, writeResults } from './report.js'

const RUNS = 5
const MiB = 1024 * 1024
const BULK_MIB = 64
const WRITE_SIZE = 256 * 1024
const PING_PONGS = 2000

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

function timing(samples: readonly number[]): Timing {
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
  } finally {
    await Promise.all([a.halt(), b.halt()])
  }
  printTable(`TCP, ${BULK_MIB} MiB one way in ${WRITE_SIZE / 1024} KiB writes; ${PING_PONGS} 1-byte round trips (median of ${RUNS})`, rows)
  const file = writeResults('net', { bulkMiB: BULK_MIB, writeBytes: WRITE_SIZE, pingPongs: PING_PONGS, runs: RUNS, rows })
  console.log(`results: ${file}`)
}
