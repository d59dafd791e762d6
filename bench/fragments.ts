// SPDX-License-Identifier: MIT
/**
 * fragments.ts - what each config fragment costs: lkl.wasm bytes and its code
 * section for the default image, with each fragment of
 * wasm/arch/wasm/configs/fragments/ alone (btrfs, xfs, ipv6, and those that bring
 * back what the default image leaves out to stay small) and with btrfs and xfs
 * together, beside the default, and the boot time of each (instantiate to the
 * first syscall served).
 *
 * It builds the images the table needs with `npm run build:kernel [-- --with ...]`:
 * cached by input hash, so an image built before (the tests build default and
 * btrfs+xfs) costs seconds, and one never built compiles its fragments' objects
 * on top of the default build's and runs the finishing step (~10 min on 2 cores).
 *
 * Limits: boot time is for an image whose module is compiled already (as in
 * kernel.ts); compiling a larger module takes longer too, and is not counted.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { loadKernelImage, startKernel } from '../src/index.js'
import { WasmBytes } from '../src/kernel-compile.js'
import { printTable, type Row, writeResults } from './report.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/* The table's rows: no fragment (build/), then each fragment alone, then the two filesystems together. */
const FRAGMENTS = readdirSync(path.join(root, 'wasm/arch/wasm/configs/fragments'))
  .filter((f) => f.endsWith('.config')).map((f) => f.slice(0, -'.config'.length)).sort()
const COMBINATIONS: readonly (readonly string[])[] = [[], ...FRAGMENTS.map((f) => [f]), ['btrfs', 'xfs']]
const BOOTS = 5

/** The folder build:kernel publishes an image with these fragments to (wasm/build.ts, outputDir). */
function imageDir(fragments: readonly string[]): string {
  return path.join(root, 'build', fragments.length === 0 ? '' : `with-${fragments.join('-')}`)
}

function build(fragments: readonly string[]): void {
  const args = fragments.length === 0 ? [] : ['--', '--with', fragments.join(',')]
  const r = spawnSync('npm', ['run', '--silent', 'build:kernel', ...args], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`npm run build:kernel ${args.join(' ')} failed (exit ${r.status ?? r.signal})`)
}

/** The size of a module's code section (id 10), from its section headers. */
function codeSectionBytes(wasm: Uint8Array): number {
  const size = new WasmBytes(wasm).section(10)
  if (size === null) throw new Error('no code section')
  return size
}

/** Median and best of BOOTS boots, ms, after the module is compiled. */
async function bootTimes(dir: string): Promise<{ median: number; best: number }> {
  const image = await loadKernelImage(pathToFileURL(`${dir}/`))
  const times: number[] = []
  for (let i = 0; i < BOOTS; i++) {
    const start = performance.now()
    const k = await startKernel({ image, memoryMiB: 32 })
    await k.sys.getpid()
    times.push(performance.now() - start)
    await k.halt()
  }
  times.sort((a, b) => a - b)
  return { median: times[Math.floor(BOOTS / 2)] ?? Number.NaN, best: times[0] ?? Number.NaN }
}

export async function fragmentsBench(): Promise<void> {
  for (const fragments of COMBINATIONS) build(fragments)
  const rows: Row[] = []
  let base: { wasm: number; code: number } | undefined
  for (const fragments of COMBINATIONS) {
    const dir = imageDir(fragments)
    const wasm = new Uint8Array(readFileSync(path.join(dir, 'lkl.wasm')))
    const facts = JSON.parse(readFileSync(path.join(dir, 'lkl.json'), 'utf8')) as
      { totalSeconds?: number; makeSeconds?: number; jspiWasmBytes?: number }
    const sizes = { wasm: wasm.length, code: codeSectionBytes(wasm) }
    base ??= sizes
    const boot = await bootTimes(dir)
    rows.push({
      image: fragments.length === 0 ? 'default (ext4, vfat)' : `+ ${fragments.join(' + ')}`,
      'lkl.wasm bytes': sizes.wasm,
      'Δ bytes': sizes.wasm - base.wasm,
      'code section bytes': sizes.code,
      'Δ code': sizes.code - base.code,
      // The same image without asyncify, for runtimes with JSPI (README, "Fiber backends").
      'lkl-jspi.wasm bytes': facts.jspiWasmBytes ?? '-',
      'boot ms (median)': boot.median,
      'boot ms (best)': boot.best,
      // As the image was built (build:kernel's facts): on another machine, or with other load, these differ.
      'build s (make)': facts.makeSeconds ?? '-',
      'build s (total)': facts.totalSeconds ?? '-',
    })
  }
  printTable('Config fragments: image size and boot time', rows)
  console.log(`\nwrote ${writeResults('fragments', { rows })}`)
}
