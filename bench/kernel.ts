// SPDX-License-Identifier: MIT
/**
 * kernel.ts - figures for the kernel and the public API: boot time, syscall costs
 * beside the same operation through Node's fs on the host's /dev/shm, the kernel
 * image's sizes and build times (from the build's facts file), and how deep each
 * thread's stack was when it blocked during boot.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Kernel, type KernelOptions, loadKernelImage, startKernel } from '../src/index.js'
import { printTable, type Row, writeResults } from './report.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** How long each operation is repeated before it is timed: V8 tiers the kernel's hot wasm functions up within it. */
const WARM_UP_MS = 1000

/** Mean microseconds per operation over n runs, after a warm-up of n / 10 runs and at least WARM_UP_MS (steady state). */
async function perOp(n: number, op: () => unknown): Promise<number> {
  const warmUntil = performance.now() + WARM_UP_MS
  for (let i = 0; i < Math.max(1, n / 10) || performance.now() < warmUntil; i++) await op()
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await op()
  return Number(process.hrtime.bigint() - start) / 1000 / n
}

/** startKernel → first syscall served, ms, over runs kernels with options, after one untimed. */
async function startTimes(options: KernelOptions, runs: number): Promise<number[]> {
  await (await startKernel(options)).halt()
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    const k = await startKernel(options)
    await k.sys.getpid()
    times.push(performance.now() - start)
    if (options.snapshot !== false && !k.restored) throw new Error('a kernel after the first was not loaded from the boot snapshot')
    await k.halt()
  }
  return times.sort((a, b) => a - b)
}

async function bootTime(): Promise<Row[]> {
  await loadKernelImage() // compile once, outside the timing, as a long-lived process would
  const first = await startKernel({ memoryMiB: 32, snapshot: false })
  const highWater = first.stats().bufferHighWater
  await first.halt()
  const booted = await startTimes({ memoryMiB: 32, snapshot: false }, 5)
  const loaded = await startTimes({ memoryMiB: 32 }, 9)
  const rows: Row[] = [
    { what: 'warm boot: startKernel({ snapshot: false }) → first syscall served (ms)', best: booted[0]!, median: booted[2]!, goal: 150 },
    { what: 'loaded from the boot snapshot: startKernel() → first syscall served (ms)', best: loaded[0]!, median: loaded[4]!, goal: 10 },
  ]
  for (const [fiber, bytes] of [...highWater].sort((a, b) => b[1] - a[1])) {
    rows.push({ what: `asyncify high-water during boot: ${fiber} (bytes)`, best: bytes })
  }
  return rows
}

/** Median of a few perOp runs: one run on a loaded machine can be off by 2x. */
export async function medianPerOp(n: number, op: () => unknown): Promise<number> {
  const runs: number[] = []
  for (let i = 0; i < 5; i++) runs.push(await perOp(n, op))
  return runs.sort((a, b) => a - b)[2] ?? NaN
}

async function syscallCosts(k: Kernel): Promise<Row[]> {
  const { AT_FDCWD, O_CREAT, O_RDWR, O_RDONLY } = k.constants
  const shm = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'uklkl-bench-'))
  try {
    const rows: Row[] = []
    /** A row beside Node; goal is the issue's: µs, or a ratio to Node ("1.5x"). */
    const add = (what: string, uklkl: number, node: number, goal: number | `${number}x`): void => {
      const met = typeof goal === 'number' ? uklkl <= goal : uklkl / node <= Number.parseFloat(goal)
      rows.push({ operation: what, 'uklkl µs': uklkl, 'node fs µs': node, 'uklkl / node': uklkl / node,
        goal: typeof goal === 'number' ? `≤ ${goal} µs` : `≤ ${goal} node`, met: met ? 'yes' : 'no' })
    }
    add('getpid round trip from JS', await medianPerOp(20_000, () => k.sys.getpid!()), await medianPerOp(20_000, () => process.pid), 1)

    const file = '/bench-file'
    await k.sys.close!(await k.sys.openat!(AT_FDCWD, file, O_CREAT! | O_RDWR!, 0o644))
    const hostFile = path.join(shm, 'file')
    closeSync(openSync(hostFile, 'w'))
    add('open + close on tmpfs',
      await medianPerOp(5_000, async () => k.sys.close!(await k.sys.openat!(AT_FDCWD, file, O_RDONLY!, 0))),
      await medianPerOp(5_000, () => closeSync(openSync(hostFile, 'r'))), 5)

    const page = new Uint8Array(4096).fill(1)
    const fd = await k.sys.openat!(AT_FDCWD, file, O_RDWR!, 0)
    await k.sys.pwrite64!(fd, page, page.length, 0)
    const hostFd = openSync(hostFile, 'r+')
    writeSync(hostFd, page, 0, page.length, 0)
    const buf = new Uint8Array(4096)
    const nodePread = await medianPerOp(20_000, () => readSync(hostFd, buf, 0, buf.length, 0))
    add('4 KiB pread of a cached file', await medianPerOp(20_000, () => k.sys.pread64!(fd, buf, buf.length, 0)), nodePread, '1.5x')
    using kbuf = k.alloc(4096)
    add('4 KiB pread into a KernelBuffer (no copy)', await medianPerOp(20_000, () => k.sys.pread64!(fd, kbuf, kbuf.length, 0)), nodePread, '1.5x')

    const chunk = new Uint8Array(65536).fill(2)
    const mib = 16
    /** MiB/s, the best of five passes: steady state, once the file's pages exist and V8 has optimized the copy loops. */
    const throughput = async (write: (pos: number) => unknown, read: (pos: number) => unknown): Promise<number> => {
      for (let i = 0; i < mib * 16; i++) await write(i * 65536)
      let best = 0
      for (let pass = 0; pass < 5; pass++) {
        const start = process.hrtime.bigint()
        for (let i = 0; i < mib * 16; i++) await write(i * 65536)
        for (let i = 0; i < mib * 16; i++) await read(i * 65536)
        best = Math.max(best, (2 * mib) / (Number(process.hrtime.bigint() - start) / 1e9))
      }
      return best
    }
    const theirs = await throughput((p) => writeSync(hostFd, chunk, 0, chunk.length, p), (p) => readSync(hostFd, chunk, 0, chunk.length, p))
    const throughputRow = (what: string, ours: number): void => {
      rows.push({ operation: what, 'uklkl µs': '-', 'node fs µs': '-', 'uklkl / node': ours / theirs,
        goal: '≥ 1.0x node', met: ours >= theirs ? 'yes' : 'no', note: `${ours.toFixed(0)} vs ${theirs.toFixed(0)} MiB/s` })
    }
    throughputRow('64 KiB write+read throughput',
      await throughput((p) => k.sys.pwrite64!(fd, chunk, chunk.length, p), (p) => k.sys.pread64!(fd, chunk, chunk.length, p)))
    using big = k.alloc(65536)
    throughputRow('64 KiB write+read, KernelBuffer (no copy)',
      await throughput((p) => k.sys.pwrite64!(fd, big, big.length, p), (p) => k.sys.pread64!(fd, big, big.length, p)))
    await k.sys.close!(fd)
    closeSync(hostFd)
    return rows
  } finally {
    rmSync(shm, { recursive: true, force: true })
  }
}

/** Sizes and build times, from the facts the kernel build records next to lkl.wasm. */
function imageFacts(): Row[] {
  const factsFile = path.join(root, 'build/lkl.json')
  const rows: Row[] = []
  if (existsSync(factsFile)) {
    for (const [key, value] of Object.entries(JSON.parse(readFileSync(factsFile, 'utf8')) as Record<string, unknown>)) {
      if (typeof value === 'number' || typeof value === 'string') rows.push({ fact: key, value })
    }
  }
  const patches = readdirSync(path.join(root, 'wasm/patches')).filter((f) => f.endsWith('.patch'))
  const lines = patches.reduce((n, f) => n + readFileSync(path.join(root, 'wasm/patches', f), 'utf8').split('\n').length, 0)
  rows.push({ fact: 'patches to generic kernel files', value: `${patches.length} (${lines} lines)` })
  rows.push({ fact: 'lkl.wasm bytes', value: statSync(path.join(root, 'build/lkl.wasm')).size })
  // The function names the image keeps beside lkl.wasm, for error stacks (scripts/wasm-names.ts).
  const names = path.join(root, 'build/lkl.names')
  if (existsSync(names)) rows.push({ fact: 'lkl.names bytes', value: statSync(names).size })
  return rows
}

export async function kernelBench(): Promise<void> {
  const image = imageFacts()
  printTable('Kernel image', image)
  const boot = await bootTime()
  printTable('Boot', boot)
  const k = await startKernel({ memoryMiB: 64 })
  const costs = await syscallCosts(k)
  await k.halt()
  printTable('Syscalls from JS, beside Node fs on /dev/shm', costs)
  console.log(`\nwrote ${writeResults('kernel', { image, boot, costs })}`)
}
