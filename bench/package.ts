// SPDX-License-Identifier: MIT
/**
 * package.ts - figures for the npm package as a user gets it: the tarball's size,
 * the size once installed, and what a fresh Node process pays to use it: `import`,
 * startKernel (which compiles lkl.wasm) and the first syscall, each timed inside
 * the process, plus process start to first syscall and spawn to exit, over 10 runs.
 *
 * It packs the working tree (`npm pack`, whose prepare step rebuilds dist/ and, if
 * its inputs changed, the kernel) and installs the tarball offline into an empty
 * temporary project.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { printTable, type Row, writeResults } from './report.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUNS = 10

/** Bytes and files under dir. */
function treeSize(dir: string): { bytes: number; files: number } {
  let bytes = 0
  let files = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    bytes += statSync(path.join(entry.parentPath, entry.name)).size
    files++
  }
  return { bytes, files }
}

/** The probe each fresh process runs: timestamps in ms since the process started. */
const PROBE = `
const beforeImport = performance.now()
const { startKernel } = await import('uklkl')
const imported = performance.now()
const k = await startKernel({ memoryMiB: 32 })
const started = performance.now()
const pid = await k.sys.getpid()
const served = performance.now()
await k.halt()
if (pid !== 1) throw new Error('getpid returned ' + pid)
console.log(JSON.stringify({ beforeImport, imported, started, served }))
`

interface Probe {
  beforeImport: number
  imported: number
  started: number
  served: number
}

function stats(what: string, values: number[]): Row {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2
  return { what, median, min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN }
}

export async function packageBench(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-bench-package-'))
  try {
    const packed = path.join(work, 'packed')
    mkdirSync(packed)
    console.log('packing (npm pack: prepare rebuilds dist/ and, if needed, the kernel)')
    execFileSync('npm', ['pack', '--pack-destination', packed], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
    const tarballName = readdirSync(packed).find((name) => name.endsWith('.tgz'))
    if (tarballName === undefined) throw new Error('npm pack made no tarball')
    const tarball = path.join(packed, tarballName)

    const consumer = path.join(work, 'consumer')
    const home = path.join(work, 'home')
    mkdirSync(consumer)
    mkdirSync(home)
    // An empty HOME: npm's cache and config start empty, as on a user's first install
    // (without npm's check for a newer npm, which would go to the registry).
    const env = { PATH: process.env.PATH ?? '', HOME: home, npm_config_update_notifier: 'false' }
    writeFileSync(path.join(consumer, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' })}\n`)
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: consumer, env, stdio: ['ignore', 'ignore', 'inherit'] })
    const installed = treeSize(path.join(consumer, 'node_modules', 'uklkl'))
    const wasmBytes = statSync(path.join(consumer, 'node_modules', 'uklkl', 'build', 'lkl.wasm')).size
    const sizes: Row[] = [
      { what: 'tarball (.tgz)', bytes: statSync(tarball).size, MiB: statSync(tarball).size / 2 ** 20 },
      { what: `installed (node_modules/uklkl, ${installed.files} files)`, bytes: installed.bytes, MiB: installed.bytes / 2 ** 20 },
      { what: 'of which build/lkl.wasm', bytes: wasmBytes, MiB: wasmBytes / 2 ** 20 },
    ]
    printTable('Package size', sizes)

    const probe = path.join(consumer, 'probe.mjs')
    writeFileSync(probe, PROBE)
    const probes: Probe[] = []
    const walls: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const spawned = performance.now()
      const r = spawnSync(process.execPath, [probe], { cwd: consumer, env, encoding: 'utf8' })
      walls.push(performance.now() - spawned)
      if (r.status !== 0) throw new Error(`the probe failed (exit ${r.status ?? r.signal}): ${r.stderr}`)
      probes.push(JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Probe)
    }
    const fresh: Row[] = [
      stats("import('uklkl') (ms)", probes.map((p) => p.imported - p.beforeImport)),
      stats('startKernel: compile lkl.wasm + boot (ms)', probes.map((p) => p.started - p.imported)),
      stats('first syscall, getpid (ms)', probes.map((p) => p.served - p.started)),
      stats('import + startKernel + first syscall (ms)', probes.map((p) => p.served - p.beforeImport)),
      stats('process start → first syscall served (ms)', probes.map((p) => p.served)),
      stats('spawn → exit, with halt (ms)', walls),
    ]
    printTable(`A fresh Node process using the installed package (${RUNS} runs)`, fresh)
    console.log(`\nwrote ${writeResults('package', { tarball: tarballName, sizes, fresh })}`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
