// SPDX-License-Identifier: MIT
/**
 * soak.ts - many kernels in one process: CYCLES boot/halt cycles, each with
 * BLOCKED_READS syscalls blocked at once (one pipe read per host thread, released
 * by writes). Prints the process's RSS and JS heap over the cycles (after a full
 * GC), how much the last half of the cycles grew them (goal: under 5 %), and what
 * each halted kernel leaves behind: kernel objects the GC could not collect (each
 * holds its wasm memory, counted in "external"), timers or other handles still
 * keeping the event loop alive, listeners left on process.
 *
 * Limits: RSS and the JS heap are the whole process's (under `npm run bench` they
 * include the other suites' modules, binaryen's among them), so growth matters,
 * not level; the allocator may keep freed pages. The first cycles include
 * compiling the kernel module and warming up the JIT.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Kernel, loadKernelImage, startKernel } from '../src/index.js'
import { printTable, type Row, writeResults } from './report.js'

const CYCLES = 200
const BLOCKED_READS = 64
const MIB = 1024 * 1024
/** Cycles whose figures the table shows. */
const SHOWN = new Set([1, 2, 5, 10, 25, 50, 75, 100, 125, 150, 175, 200])

setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

interface Sample {
  cycle: number
  ms: number
  rssMiB: number
  heapUsedMiB: number
  externalMiB: number
  arrayBuffersMiB: number
  /** Handles and requests keeping the event loop alive (timers, immediates ...), by kind. */
  activeResources: string
  /** Listeners on process (exit, uncaughtException ...): a kernel that registers one per boot leaks. */
  processListeners: number
}

/** Full GC twice, with a turn of the event loop between, so finalizers run. */
async function settle(): Promise<void> {
  collectGarbage()
  await new Promise((resolve) => setImmediate(resolve))
  collectGarbage()
}

function activeResources(): string {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  return [...counts].map(([kind, n]) => `${kind} ×${n}`).join(', ') || 'none'
}

async function pipe(k: Kernel): Promise<[number, number]> {
  const fds = new Uint8Array(8)
  await k.sys.pipe2(fds, 0)
  const view = new DataView(fds.buffer)
  return [view.getInt32(0, true), view.getInt32(4, true)]
}

/** Where a cycle is, for the error that names a cycle that stopped making progress. */
interface CycleProgress {
  step: string
  console: string
}

/** One cycle: boot, BLOCKED_READS reads blocked at once and released, halt. */
async function cycle(progress: CycleProgress): Promise<Kernel> {
  progress.step = 'startKernel'
  progress.console = ''
  const k = await startKernel({ memoryMiB: 32, onConsole: (text) => { progress.console += text } })
  progress.step = `${BLOCKED_READS} pipes and threads`
  const readers = await Promise.all(Array.from({ length: BLOCKED_READS }, async () => {
    const [rd, wr] = await pipe(k)
    return { rd, wr, thread: await k.thread() }
  }))
  progress.step = 'reads and getpid'
  const reads = readers.map(({ rd, thread }) => thread.sys.read(rd, new Uint8Array(8), 8))
  await k.sys.getpid()
  progress.step = 'writes releasing the reads'
  const byte = new Uint8Array([42])
  for (const { wr } of readers) await k.sys.write(wr, byte, 1)
  for (const n of await Promise.all(reads)) {
    if (n !== 1) throw new Error(`a released read returned ${n}, not 1`)
  }
  progress.step = 'thread exits'
  await Promise.all(readers.map(({ thread }) => thread.exit()))
  progress.step = 'halt'
  const halted = await k.halt()
  if (halted !== 0) throw new Error(`halt resolved with ${halted}`)
  return k
}

/** A cycle that takes longer than this has stopped making progress (a healthy one takes well under a second). */
const CYCLE_LIMIT_MS = 60_000

/** cycle(), or an error naming where it stood when CYCLE_LIMIT_MS ran out: never a silent hang. */
async function boundedCycle(n: number): Promise<Kernel> {
  const progress: CycleProgress = { step: 'not started', console: '' }
  let timer: ReturnType<typeof setTimeout> | undefined
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`soak cycle ${n} made no progress for ${CYCLE_LIMIT_MS} ms in: ${progress.step}; `
      + `event loop: ${activeResources()}; console tail:\n${progress.console.slice(-2000)}`)), CYCLE_LIMIT_MS)
  })
  try {
    return await Promise.race([cycle(progress), stalled])
  } finally {
    clearTimeout(timer)
  }
}

function growth(samples: readonly Sample[], field: 'rssMiB' | 'heapUsedMiB' | 'externalMiB'): number {
  const middle = samples[Math.floor(samples.length / 2) - 1]
  const last = samples[samples.length - 1]
  if (middle === undefined || last === undefined) return 0
  return ((last[field] - middle[field]) / middle[field]) * 100
}

export async function soakBench(): Promise<void> {
  await loadKernelImage()
  const alive = new Set<WeakRef<Kernel>>()
  const samples: Sample[] = []
  for (let i = 1; i <= CYCLES; i++) {
    const start = performance.now()
    alive.add(new WeakRef(await boundedCycle(i)))
    const ms = performance.now() - start
    await settle()
    const usage = process.memoryUsage()
    samples.push({
      cycle: i, ms, rssMiB: usage.rss / MIB, heapUsedMiB: usage.heapUsed / MIB, externalMiB: usage.external / MIB,
      arrayBuffersMiB: usage.arrayBuffers / MIB, activeResources: activeResources(),
      processListeners: process.eventNames().reduce((n, name) => n + process.listenerCount(name), 0),
    })
  }
  await settle()
  const uncollected = [...alive].filter((ref) => ref.deref() !== undefined).length

  const rows: Row[] = samples.filter((s) => SHOWN.has(s.cycle)).map((s) => ({
    cycle: s.cycle, 'cycle ms': s.ms, 'RSS MiB': s.rssMiB, 'JS heap MiB': s.heapUsedMiB, 'external MiB': s.externalMiB,
    'array buffers MiB': s.arrayBuffersMiB, 'event loop kept alive by': s.activeResources,
    'process listeners': s.processListeners,
  }))
  printTable(`Soak: ${CYCLES} boot/halt cycles, each with ${BLOCKED_READS} pipe reads blocked at once`, rows)
  const summary: Row[] = [
    { figure: `RSS growth over the last ${CYCLES / 2} cycles (%)`, value: growth(samples, 'rssMiB'), goal: '< 5' },
    { figure: `JS heap growth over the last ${CYCLES / 2} cycles (%)`, value: growth(samples, 'heapUsedMiB'), goal: '< 5' },
    { figure: `external memory growth over the last ${CYCLES / 2} cycles (%)`, value: growth(samples, 'externalMiB'), goal: '< 5' },
    { figure: 'halted kernels the GC could not collect', value: uncollected, goal: '0 (the last may be held by the caller)' },
    { figure: 'median cycle (ms)', value: [...samples].sort((a, b) => a.ms - b.ms)[samples.length >> 1]?.ms ?? 0, goal: '-' },
  ]
  printTable('Soak summary', summary)
  console.log(`\nwrote ${writeResults('soak', { cycles: CYCLES, blockedReads: BLOCKED_READS, summary, samples })}`)
}
