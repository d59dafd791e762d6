// SPDX-License-Identifier: MIT
/**
 * report.ts - how every benchmark reports: a printed table and a JSON file under
 * bench/results/ (git-ignored). Benchmarks print figures; they never pass or fail.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export type Row = Record<string, string | number>

export function printTable(title: string, rows: readonly Row[]): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))]
  const cell = (value: string | number | undefined): string =>
    value === undefined ? '' : typeof value === 'number' ? formatNumber(value) : value
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((row) => cell(row[c]).length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  console.log(`\n${title}`)
  console.log(line(columns))
  console.log(line(widths.map((w) => '-'.repeat(w))))
  for (const row of rows) console.log(line(columns.map((c) => cell(row[c]))))
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value)
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toFixed(3)
}

/** Write bench/results/<name>.json with the machine it ran on. */
export function writeResults(name: string, results: unknown): string {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${name}.json`)
  const machine = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown' }
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2)}\n`)
  return file
}

/** The best of runs timings of fn, in milliseconds, after one warm-up run. */
export async function bestOf(runs: number, fn: () => unknown): Promise<number> {
  await fn()
  let best = Infinity
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    best = Math.min(best, performance.now() - start)
  }
  return best
}
