// SPDX-License-Identifier: MIT
/**
 * cold-start.ts - what a fresh Node process pays to boot its first kernel, per
 * strategy of compiling lkl.wasm, and what each strategy costs the kernel later.
 *
 * Every figure comes from fresh processes (`node probe.mjs <strategy>`), the
 * strategies interleaved round by round so that a loaded machine weighs on all
 * alike; tables give the median and, in brackets, the minimum. Each probe times its
 * parts on performance.now() (ms since the process started): Node's own start,
 * import, loadKernelImage (read + compile; the compile alone by wrapping
 * WebAssembly.compile), instantiate (wrapping WebAssembly.Instance), the boot
 * (the rest of startKernel) and the first syscall. A strategy that is not one of
 * the library's options is set up by the probe itself: V8 flags set with
 * v8.setFlagsFromString before the import (and cleared where the strategy says),
 * or WebAssembly.compile replaced by the synchronous `new WebAssembly.Module`.
 * Steady state, in other fresh processes after the boot: getrandom of 64 KiB
 * (ChaCha20 in the kernel's code, so it shows which tier runs it) over its first 4 s:
 * the first 250 ms, 1-2 s and 3-4 s after the boot; then getpid; 64 KiB pwrite +
 * pread on tmpfs. Then the compile alone, four ways, and whether a compiled module
 * can be kept across processes.
 *
 * The probes run the library as the package ships it: dist/ (npm run build, which
 * bundles src/), linked into a temporary folder beside a link to build/ (the image).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { printTable, type Row, writeResults } from './report.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUNS = 10
const STEADY_RUNS = 3
const GOAL_MS = 150

/** How a probe sets up one strategy. */
interface Strategy {
  name: string
  /** loadKernelImage's option. */
  tiering: 'deferred' | 'v8'
  /** V8 flags set before the library is imported. */
  flagsBefore?: string
  /** V8 flags set once the module is compiled. */
  flagsAfterCompile?: string
  /** V8 flags set once the first syscall is served. */
  flagsAfterBoot?: string
  /** Replace WebAssembly.compile by the synchronous `new WebAssembly.Module`. */
  syncCompile?: boolean
  /** Load the kernel from the boot snapshot in the cache directory (a process before saved it); else boot. */
  snapshot?: boolean
}

const STRATEGIES: Strategy[] = [
  { name: "V8's own tiering (tiering: 'v8'), booting", tiering: 'v8' },
  { name: "deferred tier-up (tiering: 'deferred', the default), booting (snapshot: false)", tiering: 'deferred' },
  { name: 'deferred, loaded from the boot snapshot on disk (the default)', tiering: 'deferred', snapshot: true },
  { name: '--liftoff-only until the first syscall', tiering: 'v8', flagsBefore: '--liftoff-only', flagsAfterBoot: '--no-liftoff-only' },
  { name: '--liftoff-only for good', tiering: 'v8', flagsBefore: '--liftoff-only' },
  { name: 'V8 tiering, synchronous compile', tiering: 'v8', syncCompile: true },
  { name: 'deferred, synchronous compile', tiering: 'deferred', syncCompile: true },
  // Not an option: with the flag cleared after the compile, V8 aborts the process on
  // the first call of an invalid function (a failed CHECK in CompileLazy) instead of throwing.
  { name: 'deferred, --wasm-lazy-validation for the compile (unsafe)', tiering: 'deferred',
    flagsBefore: '--wasm-lazy-validation', flagsAfterCompile: '--no-wasm-lazy-validation' },
]

/** The probe of one fresh process: argv[2] a Strategy, argv[3] 'steady' for the steady-state figures. */
const PROBE = `
import v8 from 'node:v8'
const start = performance.now()
const strategy = JSON.parse(process.argv[2])
if (strategy.flagsBefore) v8.setFlagsFromString(strategy.flagsBefore)
const parts = { compile: NaN, instantiate: NaN }
const compile = WebAssembly.compile
WebAssembly.compile = async (bytes) => {
  const begun = performance.now()
  const module = strategy.syncCompile ? new WebAssembly.Module(bytes) : await compile(bytes)
  parts.compile = performance.now() - begun
  if (strategy.flagsAfterCompile) v8.setFlagsFromString(strategy.flagsAfterCompile)
  return module
}
// The runtime instantiates synchronously (src/host-ops/index.ts).
const Instance = WebAssembly.Instance
WebAssembly.Instance = function (module, imports) {
  const begun = performance.now()
  const instance = new Instance(module, imports)
  parts.instantiate = performance.now() - begun
  return instance
}
const { loadKernelImage, startKernel } = await import('./dist/index.js')
const imported = performance.now()
const image = await loadKernelImage(undefined, { tiering: strategy.tiering })
const loaded = performance.now()
const cpu = process.cpuUsage()
const k = await startKernel({ image, snapshot: strategy.snapshot === true })
if (k.restored !== (strategy.snapshot === true)) throw new Error('restored: ' + k.restored)
const booted = performance.now()
const bootCpu = process.cpuUsage(cpu)
const pid = await k.sys.getpid()
const served = performance.now()
if (pid !== 1) throw new Error('getpid returned ' + pid)
if (strategy.flagsAfterBoot) v8.setFlagsFromString(strategy.flagsAfterBoot)
const out = {
  nodeStart: start, import: imported - start, load: loaded - imported, compile: parts.compile,
  instantiate: parts.instantiate, boot: booted - loaded - parts.instantiate, first: served - booted, served,
  bootCpu: (bootCpu.user + bootCpu.system) / 1000,
}
if (process.argv[3] === 'steady') {
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  /** Runs of op for ms each: the rate of each run, per second. */
  const windows = async (count, ms, op) => {
    const rates = []
    for (let w = 0; w < count; w++) {
      let n = 0
      const begun = performance.now()
      while (performance.now() - begun < ms) { await op(); n++ }
      rates.push(n / ((performance.now() - begun) / 1000))
    }
    return rates
  }
  const MiB = 65536 / 2 ** 20
  const buf = new Uint8Array(65536)
  const random = await windows(16, 250, () => k.sys.getrandom(buf, buf.length, 0))
  out.getrandomFirst = random[0] * MiB
  out.getrandom1s = median(random.slice(4, 8)) * MiB
  out.getrandom3s = median(random.slice(12)) * MiB
  out.getpid = 1e6 / median(await windows(4, 250, () => k.sys.getpid()))
  const { AT_FDCWD, O_CREAT, O_RDWR } = k.constants
  const fd = await k.sys.openat(AT_FDCWD, '/bench', O_CREAT | O_RDWR, 0o644)
  let pos = 0
  const rw = async () => {
    await k.sys.pwrite64(fd, buf, buf.length, pos)
    await k.sys.pread64(fd, buf, buf.length, pos)
    pos = (pos + 65536) % (8 << 20)
  }
  await windows(1, 250, rw) // the file's pages exist from here on, as in bench/kernel.ts
  out.readWrite = median(await windows(4, 250, rw)) * 2 * MiB
}
await k.halt()
console.log(JSON.stringify(out))
`

/** The compile alone, one way per process: argv[2] the way. */
const COMPILE_PROBE = `
import v8 from 'node:v8'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
const way = process.argv[2]
const file = new URL('./build/lkl.wasm', import.meta.url)
if (way === 'lazy-validation') v8.setFlagsFromString('--wasm-lazy-validation')
const begun = performance.now()
let read = NaN
if (way === 'streaming') {
  const response = new Response(Readable.toWeb(createReadStream(file)), { headers: { 'content-type': 'application/wasm' } })
  await WebAssembly.compileStreaming(response)
} else {
  const bytes = await readFile(file)
  read = performance.now() - begun
  if (way === 'module') new WebAssembly.Module(bytes)
  else await WebAssembly.compile(bytes)
}
console.log(JSON.stringify({ read, total: performance.now() - begun }))
`

const COMPILE_WAYS: [string, string][] = [
  ['readFile + WebAssembly.compile', 'compile'],
  ['readFile + new WebAssembly.Module', 'module'],
  ['WebAssembly.compileStreaming (file stream)', 'streaming'],
  ['readFile + WebAssembly.compile, --wasm-lazy-validation', 'lazy-validation'],
]

/** Keeping a compiled module across processes: each way Node 20 might offer, and what it did. */
const CACHE_PROBE = `
import v8 from 'node:v8'
import { readFileSync } from 'node:fs'
const module = new WebAssembly.Module(readFileSync(new URL('./build/lkl.wasm', import.meta.url)))
let serialized
try {
  serialized = v8.serialize(module)
  const back = v8.deserialize(serialized)
  console.log(JSON.stringify({ serialize: back instanceof WebAssembly.Module ? 'a module came back' : 'no module came back' }))
} catch (error) {
  console.log(JSON.stringify({ serialize: (serialized === undefined ? 'v8.serialize: ' : 'v8.serialize gave ' + serialized.length +
    ' bytes; v8.deserialize: ') + error.message }))
}
`
/** The entry of `node --build-snapshot`: the compiled module kept in the snapshot's heap. */
const snapshotEntry = (wasm: string): string =>
  `globalThis.kernelModule = new WebAssembly.Module(require('node:fs').readFileSync(${JSON.stringify(wasm)}))\n`

function stats(values: number[]): { median: number; min: number } {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2
  return { median, min: sorted[0] ?? NaN }
}

/** "median (min)" of a part over runs, in ms. */
function cell(values: number[]): string {
  const { median, min } = stats(values)
  return Number.isNaN(median) ? '-' : `${median.toFixed(median < 10 ? 1 : 0)} (${min.toFixed(min < 10 ? 1 : 0)})`
}

function runNode(args: string[], cwd: string): string {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 24 })
  if (r.status !== 0) throw new Error(`node ${args.slice(0, 2).join(' ')} failed (exit ${r.status ?? r.signal}): ${r.stderr}`)
  return r.stdout.trim().split('\n').pop() ?? ''
}

type Sample = Record<string, number>

/** Rounds of every strategy, interleaved, the order rotated each round. */
function interleaved<T>(rounds: number, items: readonly T[], run: (item: T) => Sample): Map<T, Sample[]> {
  const samples = new Map<T, Sample[]>(items.map((item) => [item, []]))
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < items.length; i++) {
      const item = items[(i + round) % items.length]
      if (item === undefined) continue
      samples.get(item)?.push(run(item))
    }
  }
  return samples
}

export async function coldStartBench(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-bench-cold-'))
  try {
    console.log('building dist/ for the probes (npm run build)')
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
    symlinkSync(path.join(root, 'dist'), path.join(work, 'dist'))
    writeFileSync(path.join(work, 'package.json'), '{ "type": "module" }\n')
    symlinkSync(path.join(root, 'build'), path.join(work, 'build'))
    symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'))
    writeFileSync(path.join(work, 'probe.mjs'), PROBE)
    writeFileSync(path.join(work, 'compile-probe.mjs'), COMPILE_PROBE)
    writeFileSync(path.join(work, 'cache-probe.mjs'), CACHE_PROBE)
    writeFileSync(path.join(work, 'node-alone.mjs'), 'console.log(JSON.stringify({ nodeStart: performance.now() }))\n')
    // A cache of the bench's own, primed by one process: the snapshot strategy loads from it.
    process.env.UKLKL_CACHE_DIR = path.join(work, 'cache')
    runNode(['-e', "import('./dist/index.js').then(async ({ startKernel }) => (await startKernel()).halt())"], work)

    console.log(`${RUNS} rounds of ${STRATEGIES.length} strategies and Node alone, interleaved`)
    const nodeAlone = { name: 'Node alone (an empty module)' }
    const cold = interleaved<Strategy | typeof nodeAlone>(RUNS, [nodeAlone, ...STRATEGIES], (s) =>
      JSON.parse(s === nodeAlone ? runNode(['node-alone.mjs'], work) : runNode(['probe.mjs', JSON.stringify(s)], work)) as Sample)
    const parts: [string, string][] = [
      ['node start', 'nodeStart'], ['import', 'import'], ['read + compile', 'load'], ['of which compile', 'compile'],
      ['instantiate', 'instantiate'], ['boot', 'boot'], ['first call', 'first'], ['start → served', 'served'], ['CPU in boot', 'bootCpu'],
    ]
    const coldRows: Row[] = [...cold].map(([s, samples]) => ({
      strategy: s.name, ...Object.fromEntries(parts.map(([label, key]) => [label, cell(samples.map((x) => x[key] ?? NaN))])),
    }))
    printTable(`Cold start: fresh process → first syscall served, ms, median (min) of ${RUNS} processes`, coldRows)

    console.log(`\n${STEADY_RUNS} rounds of steady state after the boot, interleaved`)
    const steady = interleaved(STEADY_RUNS, STRATEGIES, (s) => JSON.parse(runNode(['probe.mjs', JSON.stringify(s), 'steady'], work)) as Sample)
    const steadyRows: Row[] = [...steady].map(([s, samples]) => {
      const median = (key: string): number => stats(samples.map((x) => x[key] ?? NaN)).median
      return {
        strategy: s.name, 'getrandom MiB/s, first 250 ms': median('getrandomFirst'), '1-2 s after': median('getrandom1s'),
        '3-4 s after': median('getrandom3s'),
        'getpid µs': median('getpid'), '64 KiB write+read MiB/s': median('readWrite'),
      }
    })
    printTable(`Steady state after the boot (median of ${STEADY_RUNS} processes)`, steadyRows)

    const compiles = interleaved(RUNS, COMPILE_WAYS, ([, way]) => JSON.parse(runNode(['compile-probe.mjs', way], work)) as Sample)
    const compileRows: Row[] = [...compiles].map(([[name], samples]) => ({
      way: name, 'read ms': cell(samples.map((x) => x.read ?? NaN)), 'read + compile ms': cell(samples.map((x) => x.total ?? NaN)),
    }))
    printTable(`The compile alone (median (min) of ${RUNS} processes)`, compileRows)

    const caching: Row[] = [{ way: 'v8.serialize(module), v8.deserialize', result: (JSON.parse(runNode(['cache-probe.mjs'], work)) as { serialize: string }).serialize }]
    writeFileSync(path.join(work, 'snapshot-entry.cjs'), snapshotEntry(path.join(root, 'build/lkl.wasm')))
    const snapshot = spawnSync(process.execPath, ['--snapshot-blob', path.join(work, 'snap.blob'), '--build-snapshot', 'snapshot-entry.cjs'],
      { cwd: work, encoding: 'utf8' })
    caching.push({ way: 'node --build-snapshot holding the module', result: snapshot.status === 0 ? 'a snapshot was written'
      : (snapshot.stderr.split('\n').find((line) => /Error/.test(line)) ?? `exit ${snapshot.status ?? snapshot.signal}`).trim() })
    printTable('Keeping the compiled module across processes (Node ' + process.version + ')', caching)

    const chosen = cold.get(STRATEGIES[2] ?? nodeAlone) ?? []
    const served = stats(chosen.map((x) => x.served ?? NaN))
    const fromImport = stats(chosen.map((x) => (x.served ?? NaN) - (x.nodeStart ?? NaN)))
    const goal: Row[] = [
      { figure: 'process start → first syscall served (ms)', median: served.median, min: served.min, goal: `≤ ${GOAL_MS}`, met: served.median <= GOAL_MS ? 'yes' : 'no' },
      { figure: 'import → first syscall served (ms)', median: fromImport.median, min: fromImport.min, goal: '-', met: '-' },
    ]
    printTable('The library default against the goal', goal)
    const raw = (m: Map<{ name: string }, Sample[]>): Record<string, Sample[]> => Object.fromEntries([...m].map(([s, v]) => [s.name, v]))
    console.log(`\nwrote ${writeResults('cold-start', {
      cold: coldRows, steady: steadyRows, compile: compileRows, caching, goal,
      samples: { cold: raw(cold), steady: raw(steady), compile: Object.fromEntries([...compiles].map(([[name], v]) => [name, v])) },
    })}`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
