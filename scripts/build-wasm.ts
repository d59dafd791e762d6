// SPDX-License-Identifier: MIT
/**
 * build-wasm.ts - the one wasm build path: C → clang → wasm-ld → preemption
 * instrumentation → asyncify → optimize, cached by a hash of every input.
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
import { ensureToolchain, llvmTool, repoRoot, wasmBuiltinsArchive } from './toolchain.js'

const run = promisify(execFile)

const hostOpsDir = path.join(repoRoot, 'src/host-ops')
const nolibcDir = path.join(repoRoot, 'src/nolibc')

/** The imports that may suspend, as binaryen's asyncify-imports wants them. */
export const suspendingImports: readonly string[] =
  JSON.parse(readFileSync(path.join(hostOpsDir, 'suspending.json'), 'utf8')) as string[]

export const CFLAGS: readonly string[] = [
  '--target=wasm32', '-O2', '-ffreestanding', '-nostdlibinc', '-mbulk-memory',
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
}

export interface ModuleSizes {
  linked: number
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

/**
 * Instrument, asyncify and optimize (-O2) a linked module. Asyncify instruments
 * only the functions that may reach a suspending import (suspend-analysis.ts), not
 * every function that makes an indirect call. Names are kept: they make traps
 * readable.
 */
export function finishModule(linked: Uint8Array, options: Instrumentation): FinishedModule {
  const module = binaryen.readBinary(linked)
  try {
    binaryen.setDebugInfo(true)
    binaryen.setOptimizeLevel(2)
    binaryen.setShrinkLevel(0)
    let preempt: PreemptStats | null = null
    let watchdog: PreemptStats | null = null
    if (options.preempt === 'blocking-functions') {
      const blocking = functionsThatMaySuspend(module, suspendingImports.filter((name) => name !== 'host.preempt_tick'))
      preempt = instrumentPreemption(module, definedFunctionsOutside(module, blocking), options.preemptPoint)
      watchdog = instrumentWatchdog(module, blocking)
    } else if (options.preempt) {
      preempt = instrumentPreemption(module, new Set(), options.preemptPoint)
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
    module.optimize()
    if (!module.validate()) throw new Error('finishModule: binaryen produced an invalid module')
    const bytes = new Uint8Array(module.emitBinary())
    return { bytes, sizes: { linked: linked.length, instrumented, final: bytes.length }, preempt, watchdog, asyncified }
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
    const { sizes, preempt, watchdog, asyncified } = JSON.parse(readFileSync(meta, 'utf8')) as FinishedModule
    return { file, bytes: new Uint8Array(readFileSync(file)), sizes, preempt, watchdog, asyncified, cached: true }
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
    }))
    return { file, ...finished, cached: false }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}
