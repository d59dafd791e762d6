// SPDX-License-Identifier: MIT
/**
 * build-wasm.ts - the one wasm build path: C → clang → wasm-ld → -O2 → preemption
 * instrumentation → asyncify → -Oz, cached by a hash of every input.
 *
 * buildCModule() compiles small C programs (runtime test fixtures, benchmarks)
 * against src/nolibc and the host-ops boundary. finishModule() is the second half,
 * shared with the kernel build, which links its own archives first.
 *
 * Limits: binaryen.js is single-threaded and needs ~300 MB of memory per MB of
 * input for asyncify; a kernel-sized module takes minutes, which is why every
 * output is cached.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import binaryen from 'binaryen'
import { InputHash, cacheDir } from './cache.js'
import { instrumentPreemption, instrumentWatchdog, type PreemptStats } from './preempt-pass.js'
import { functionsThatMaySuspend } from './suspend-analysis.js'
import { splitNameSection } from './wasm-names.js'
import { ensureToolchain, llvmTool, repoRoot, wasmBuiltinsArchive } from './toolchain.js'

const run = promisify(execFile)

const hostOpsDir = path.join(repoRoot, 'src/host-ops')
const nolibcDir = path.join(repoRoot, 'src/nolibc')

/** The imports that may suspend, as binaryen's asyncify-imports wants them. */
export const suspendingImports: readonly string[] =
  JSON.parse(readFileSync(path.join(hostOpsDir, 'suspending.json'), 'utf8')) as string[]

export const CFLAGS: readonly string[] = [
  '--target=wasm32', '-O2', '-ffreestanding', '-nostdlibinc', '-mbulk-memory',
  // setjmp/longjmp as wasm exception handling (host-ops.h, "jump points").
  '-mexception-handling', '-mllvm', '-wasm-enable-sjlj',
  '-Wall', '-Wextra', '-Werror', '-fno-common',
]

export interface Instrumentation {
  /**
   * Fuel checks at loop headers calling host.preempt_tick: in every function
   * (true), or only in functions that may block anyway ('blocking-functions').
   * The second keeps the loops of functions that cannot block out of asyncify
   * (for the kernel: 750 functions and 338 KB of lkl.wasm); they get the
   * watchdog's check instead (host.watchdog_tick, which never suspends), so a
   * loop there that does not end is still seen, but it holds the CPU until it
   * ends or the watchdog stops the module. The kernel uses true.
   */
  preempt: boolean | 'blocking-functions'
  /**
   * A function of the module the fuel check calls instead of host.preempt_tick
   * (which it must call itself): the kernel's wasm_preempt_point, which also lets
   * the kernel preempt the task.
   */
  preemptPoint?: string
  /** Let the suspending host ops unwind and rewind the stack. */
  asyncify: boolean
  /**
   * Where the function names go: the module's name section ('section', the
   * default), or a names file beside it ('file': FinishedModule.names, one name a
   * line, which the runtime reads back for error stacks; 192 KB less module for
   * the kernel).
   */
  names?: 'section' | 'file'
}

export interface ModuleSizes {
  linked: number
  /** After -O2, before any instrumentation. */
  optimized: number
  instrumented: number
  final: number
}

export interface FinishedModule {
  bytes: Uint8Array<ArrayBuffer>
  sizes: ModuleSizes
  preempt: PreemptStats | null
  /** The loops that got the watchdog's check instead ('blocking-functions'). */
  watchdog: PreemptStats | null
  /** How many functions asyncify instrumented (those that may reach a suspending op). */
  asyncified: number | null
  /** The names file (Instrumentation.names 'file'), else null. */
  names: string | null
}

/** Every defined function not in keep. */
function definedFunctionsOutside(module: binaryen.Module, keep: ReadonlySet<string>): Set<string> {
  const out = new Set<string>()
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i))
    if ((info.module === null || info.module === '') && !keep.has(info.name)) out.add(info.name)
  }
  return out
}

/** Export name that keeps the preemption point alive through the first -O2. */
const KEEP_POINT = '__uklkl_keep_preempt_point'

/**
 * Optimize (-O2), instrument, asyncify and optimize again (-Oz) a linked module.
 * Asyncify instruments only the functions that may reach a suspending import
 * (suspend-analysis.ts), not every function that makes an indirect call. Names are kept, in the module or in a
 * names file (options.names): they make traps readable.
 *
 * Measured on the kernel (lkl.wasm was 8.29 MB with instrument → asyncify → -O2):
 * - -O2 before the instrumentation: inlining and dead-code removal first leave
 *   fewer and smaller functions for the fuel checks and asyncify to multiply
 *   (7,186 functions asyncified instead of 10,001): 7.73 MB with names;
 * - asyncify optimizes what it instruments itself (a second -O2 gained < 1 KB),
 *   but -Oz afterwards (written with optimized StackIR) still takes 150 KB more,
 *   with no change in syscall, boot or loop-heavy (getrandom 64 KiB) times measurable;
 * - the name section in a names file (options.names 'file'): 192 KB.
 * Together 7.38 MB. Not taken: a call to one check function per loop instead of
 * the inline fuel check (113 KB less, but loop-heavy syscalls 13-17 % slower).
 */
export function finishModule(linked: Uint8Array, options: Instrumentation): FinishedModule {
  const module = binaryen.readBinary(linked)
  try {
    // Names stay on through every pass: asyncify's onlylist names functions.
    binaryen.setDebugInfo(true)
    binaryen.setOptimizeLevel(2)
    binaryen.setShrinkLevel(0)
    // Optimized StackIR when writing, as wasm-opt does when it optimizes; binaryen.js
    // leaves it off, and the kernel's image was 70 KB larger without it.
    binaryen.setGenerateStackIR(true)
    binaryen.setOptimizeStackIR(true)
    // A memory the host gives (the kernel imports its own) starts zeroed, as a new one
    // does (src/memory-pool.ts zeroes a halted kernel's first): zeros need no data segment.
    binaryen.setZeroFilledMemory(true)
    // Nothing calls the preemption point before the fuel checks do, so -O2 would
    // drop it as unused (or inline it away): an export keeps it, for that pass only.
    const point = options.preempt === false ? undefined : options.preemptPoint
    if (point !== undefined) module.addFunctionExport(point, KEEP_POINT)
    module.optimize()
    if (point !== undefined) module.removeExport(KEEP_POINT)
    const optimized = module.emitBinary().length
    let preempt: PreemptStats | null = null
    let watchdog: PreemptStats | null = null
    if (options.preempt === 'blocking-functions') {
      const blocking = functionsThatMaySuspend(module, suspendingImports.filter((name) => name !== 'host.preempt_tick'))
      preempt = instrumentPreemption(module, definedFunctionsOutside(module, blocking), point)
      watchdog = instrumentWatchdog(module, blocking)
    } else if (options.preempt) {
      preempt = instrumentPreemption(module, new Set(), point)
    }
    const instrumented = module.emitBinary().length
    let asyncified: number | null = null
    if (options.asyncify) {
      const maySuspend = functionsThatMaySuspend(module, suspendingImports)
      asyncified = maySuspend.size
      binaryen.setPassArgument('asyncify-imports', suspendingImports.join(','))
      binaryen.setPassArgument('asyncify-onlylist', [...maySuspend].join(','))
      module.runPasses(['asyncify'])
      binaryen.clearPassArguments()
    }
    binaryen.setShrinkLevel(2)
    module.optimize()
    if (!module.validate()) throw new Error('finishModule: binaryen produced an invalid module')
    const withNames = new Uint8Array(module.emitBinary())
    const { bytes, names } = options.names === 'file' ? splitNameSection(withNames) : { bytes: withNames, names: null }
    return {
      bytes, sizes: { linked: linked.length, optimized, instrumented, final: bytes.length }, preempt, watchdog, asyncified, names,
    }
  } finally {
    module.dispose()
  }
}

export interface CModuleSpec {
  /** Names the output in the cache and in messages. */
  name: string
  /** C files, relative to the repo root. */
  sources: readonly string[]
  /** Functions to export besides host_entry (which every module exports). */
  exports: readonly string[]
  instrument?: Instrumentation
  extraCflags?: readonly string[]
}

export interface BuiltModule extends FinishedModule {
  file: string
  cached: boolean
}

function cFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.c')).map((f) => path.join(dir, f))
}

/** Compile, link and finish a C program with nolibc; reuses the cached output when no input changed. */
export async function buildCModule(spec: CModuleSpec): Promise<BuiltModule> {
  const instrument = spec.instrument ?? { preempt: true, asyncify: true }
  const clang = ensureToolchain()
  const sources = [
    ...spec.sources.map((s) => path.join(repoRoot, s)),
    ...cFiles(nolibcDir),
    path.join(hostOpsDir, 'host-entry.c'),
  ]
  const cflags = [...CFLAGS, `-I${path.join(nolibcDir, 'include')}`, `-I${hostOpsDir}`, ...(spec.extraCflags ?? [])]
  const ldflags = [
    '--no-entry', '-z', 'stack-size=65536', '--stack-first',
    '--export=__stack_pointer', '--export=__heap_base',
    ...spec.exports.map((e) => `--export=${e}`),
  ]
  const key = new InputHash()
    .text('toolchain', clang)
    .text('cflags', cflags.map((f) => f.replace(repoRoot, '.')).join(' '))
    .text('ldflags', ldflags.join(' '))
    .text('instrument', JSON.stringify(instrument))
    .tree(path.join(repoRoot, 'scripts'), (f) => f.endsWith('.ts'))
    .tree(nolibcDir)
    .tree(hostOpsDir, (f) => f.endsWith('.h') || f.endsWith('.c') || f.endsWith('.json'))
  for (const s of sources) key.file(s)
  const file = path.join(cacheDir('wasm'), `${spec.name}-${key.key()}.wasm`)
  const meta = `${file}.json`
  if (existsSync(file) && existsSync(meta)) {
    const { sizes, preempt, watchdog, asyncified, names } = JSON.parse(readFileSync(meta, 'utf8')) as FinishedModule
    return { file, bytes: new Uint8Array(readFileSync(file)), sizes, preempt, watchdog, asyncified, names, cached: true }
  }

  const tmp = mkdtempSync(path.join(os.tmpdir(), `uklkl-${spec.name}-`))
  try {
    const objects = await Promise.all(sources.map(async (src, i) => {
      const obj = path.join(tmp, `${i}-${path.basename(src, '.c')}.o`)
      await run(llvmTool('clang'), [...cflags, '-c', src, '-o', obj]).catch((err: { stderr?: string }) => {
        throw new Error(`${spec.name}: compiling ${path.relative(repoRoot, src)} failed:\n${err.stderr ?? String(err)}`)
      })
      return obj
    }))
    const linkedFile = path.join(tmp, 'linked.wasm')
    await run(llvmTool('wasm-ld'), [...ldflags, ...objects, wasmBuiltinsArchive, '-o', linkedFile])
      .catch((err: { stderr?: string }) => {
        throw new Error(`${spec.name}: linking failed:\n${err.stderr ?? String(err)}`)
      })
    const finished = finishModule(readFileSync(linkedFile), instrument)
    writeFileSync(file, finished.bytes)
    writeFileSync(meta, JSON.stringify({
      sizes: finished.sizes, preempt: finished.preempt, watchdog: finished.watchdog, asyncified: finished.asyncified,
      names: finished.names,
    }))
    return { file, ...finished, cached: false }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}
