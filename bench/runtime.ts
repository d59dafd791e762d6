// SPDX-License-Identifier: MIT
/**
 * runtime.ts - figures for the fiber runtime: switch cost, the price of the
 * preemption instrumentation and of asyncify, and code sizes.
 *
 * Loops are timed by calling the export directly (no fiber), with a host whose
 * preempt_tick only refills the fuel: that isolates the cost of the code itself.
 * One more row runs the instrumented loop on a real fiber, ticks and all.
 */
import { readdirSync } from 'node:fs'
import { type Instrumentation, buildCModule } from '../scripts/build-wasm.js'
import { instantiate } from '../src/host-ops/index.js'
import { bestOf, printTable, type Row, writeResults } from './report.js'

const VARIANTS: Record<string, Instrumentation> = {
  'plain': { preempt: false, asyncify: false },
  'asyncify': { preempt: false, asyncify: true },
  'preempt': { preempt: true, asyncify: false },
  'preempt+asyncify': { preempt: true, asyncify: true },
}

async function switchCost(): Promise<Row[]> {
  const module = await buildCModule({ name: 'bench-switch', sources: ['bench/fixtures/switch.c'], exports: [] })
  const compiled = await WebAssembly.compile(module.bytes)
  const rows: Row[] = []
  const rounds = 50_000
  for (const depth of [0, 20]) {
    const runtime = await instantiate(compiled)
    const ms = await bestOf(3, () => runtime.call('ping_pong_at_depth', [rounds, depth]))
    const highWater = Math.max(...runtime.sched.bufferHighWater.values())
    rows.push({ 'frames below entry': depth, 'switches': 2 * rounds, 'µs per switch': (ms * 1000) / (2 * rounds),
      'goal µs': depth === 0 ? '-' : 3, 'asyncify bytes saved': highWater })
  }
  return rows
}

/** A direct instance whose only live import is preempt_tick, refilling the fuel. */
async function directInstance(bytes: Uint8Array<ArrayBuffer>): Promise<WebAssembly.Exports> {
  const module = await WebAssembly.compile(bytes)
  let fuel: WebAssembly.Global | undefined
  const host: Record<string, () => void> = {}
  for (const imp of WebAssembly.Module.imports(module)) {
    host[imp.name] = imp.name === 'preempt_tick'
      ? () => { fuel!.value = 20_000 }
      : () => { throw new Error(`bench: unexpected import ${imp.name}`) }
  }
  const instance = await WebAssembly.instantiate(module, { host })
  fuel = instance.exports.uklkl_fuel as WebAssembly.Global | undefined
  return instance.exports
}

async function loopCost(): Promise<Row[]> {
  const iterations = 20_000_000
  const times: Record<string, { hash: number, indirect: number }> = {}
  for (const [variant, instrument] of Object.entries(VARIANTS)) {
    const module = await buildCModule({ name: `bench-loops-${variant}`, sources: ['bench/fixtures/loops.c'], exports: [], instrument })
    const exports = await directInstance(module.bytes)
    const hash = exports.hash_loop as (n: number) => number
    const indirect = exports.indirect_loop as (n: number) => number
    times[variant] = {
      hash: await bestOf(5, () => hash(iterations)),
      indirect: await bestOf(5, () => indirect(iterations)),
    }
  }
  const fiberModule = await buildCModule({ name: 'bench-loops-preempt+asyncify', sources: ['bench/fixtures/loops.c'], exports: [] })
  const runtime = await instantiate(await WebAssembly.compile(fiberModule.bytes))
  times['preempt+asyncify on a fiber'] = {
    hash: await bestOf(5, () => runtime.call('hash_loop', [iterations])),
    indirect: await bestOf(5, () => runtime.call('indirect_loop', [iterations])),
  }
  const plain = times.plain!
  const asyncify = times.asyncify!
  return Object.entries(times).map(([variant, t]) => ({
    variant,
    'hash ms': t.hash,
    'vs plain': t.hash / plain.hash,
    'vs asyncify': t.hash / asyncify.hash,
    'indirect ms': t.indirect,
    'vs plain ': t.indirect / plain.indirect,
    'vs asyncify ': t.indirect / asyncify.indirect,
  }))
}

async function codeSizes(): Promise<Row[]> {
  const fixtures = readdirSync(new URL('../test/fixtures/', import.meta.url)).filter((f) => f.endsWith('.c'))
  const rows: Row[] = []
  for (const file of fixtures) {
    const name = file.replace(/\.c$/, '')
    const row: Row = { fixture: name }
    for (const [variant, instrument] of Object.entries(VARIANTS)) {
      const module = await buildCModule({ name: `fixture-${name}`, sources: [`test/fixtures/${file}`], exports: [], instrument })
      if (variant === 'plain') row['linked'] = module.sizes.linked
      row[variant] = module.sizes.final
    }
    row['growth'] = `${(((row['preempt+asyncify'] as number) / (row.plain as number) - 1) * 100).toFixed(0)} %`
    rows.push(row)
  }
  return rows
}

export async function runtimeBench(): Promise<void> {
  const switches = await switchCost()
  printTable('Fiber switch (semaphore ping-pong between two threads)', switches)
  const loops = await loopCost()
  printTable('Loop cost: preemption instrumentation and asyncify (20 M iterations, best of 5)', loops)
  const sizes = await codeSizes()
  printTable('Code size in bytes after the finishing step (-O2, instrumentation, -Oz), by instrumentation', sizes)
  console.log(`\nwrote ${writeResults('runtime', { switches, loops, sizes })}`)
}
