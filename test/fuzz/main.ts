// SPDX-License-Identifier: MIT
/**
 * main.ts - `npm run fuzz`: the syscall fuzzer (syscall-fuzzer.ts) from the command line.
 *
 *   npm run fuzz -- [--calls N] [--seed N] [--pointers null,first-page,...] [--only SYSCALL,...]
 *                   [--timeout MS] [--probe-timeout MS] [--calls-per-kernel N] [--from N] [--verbose]
 *                   [--unseeded] (kernels loaded from the boot snapshot, not seeded)
 *                   [--json FILE]
 *
 * Prints progress, then the report: calls per second, traps, hangs, unclean halts,
 * each finding with the command that replays it, and a table of findings by
 * syscall and pointer class. A replay is the same command with --from, --calls
 * and --verbose, which prints every call and its result. Exits 1 when there are
 * findings, 2 on bad usage.
 */
import { randomInt } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import {
  type Finding, type FuzzOptions, FuzzOptionsError, type FuzzReport, POINTER_CLASSES, type PointerClass, fuzzSyscalls,
} from './syscall-fuzzer.js'

const USAGE = 'usage: npm run fuzz -- [--calls N] [--seed N] [--pointers CLASS,...] [--only SYSCALL,...] [--timeout MS] [--probe-timeout MS] '
  + `[--calls-per-kernel N] [--from N] [--verbose] [--unseeded] [--json FILE]\npointer classes: ${POINTER_CLASSES.join(', ')}`

class UsageError extends Error {
  override name = 'UsageError'
}

function integer(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 0) throw new UsageError(`${flag} takes a non-negative integer, not ${text}`)
  return value
}

function pointerClasses(text: string | undefined): PointerClass[] | undefined {
  if (text === undefined) return undefined
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const unknown = names.filter((n) => !(POINTER_CLASSES as readonly string[]).includes(n))
  if (unknown.length > 0) throw new UsageError(`unknown pointer class ${unknown.join(', ')}`)
  return names as PointerClass[]
}

function summary(report: FuzzReport): string {
  return `${report.calls} calls in ${(report.elapsedMs / 1000).toFixed(1)} s (${report.callsPerSecond.toFixed(0)}/s): `
    + `${report.returned} returned (${report.errno} with -errno, ${report.efault} of them EFAULT), ${report.blocked} blocked, `
    + `${report.traps.length} traps, ${report.hangs.length} hangs, ${report.uncleanHalts.length} unclean halts, `
    + `${report.kernels} kernels (${report.loadedKernels} loaded from the boot snapshot)`
}

function printFinding(finding: Finding): void {
  console.log(`\n${finding.kind.toUpperCase()} at call ${finding.index} (seed ${finding.seed}): ${finding.call}`)
  console.log(`  ${finding.error}`)
  console.log(`  replay: ${finding.replay}`)
}

function printReport(report: FuzzReport): void {
  console.log(`\nseed ${report.seed}, calls ${report.firstCall}..${report.firstCall + report.calls - 1}`)
  console.log(summary(report))
  console.log('excluded:')
  for (const [name, why] of Object.entries(report.excluded)) console.log(`  ${name}: ${why}`)
  if (Object.keys(report.blockedEndings).length > 0) {
    console.log(`blocked calls at halt ended as: ${Object.entries(report.blockedEndings).map(([k, v]) => `${k} ×${v}`).join(', ')}`)
  }
  const findings = [...report.traps, ...report.hangs, ...report.uncleanHalts]
  if (findings.length > 0) {
    const bySyscall = new Map<string, Map<string, number>>()
    for (const f of findings) {
      const key = `${f.kind} ${f.syscall}`
      const row = bySyscall.get(key) ?? new Map<string, number>()
      const classes = f.pointerClasses.join('+') || '(no pointer)'
      row.set(classes, (row.get(classes) ?? 0) + 1)
      bySyscall.set(key, row)
    }
    console.log('\nfindings by syscall and pointer classes of the call:')
    for (const [key, row] of [...bySyscall].sort()) {
      console.log(`  ${key}: ${[...row].map(([classes, n]) => `${classes} ×${n}`).join(', ')}`)
    }
  }
  const final = report.final
  console.log(`\nlast kernel: getpid = ${final?.getpid ?? 'not reached'}, halt = ${final?.halt ?? 'not reached'}`)
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      calls: { type: 'string' },
      seed: { type: 'string' },
      from: { type: 'string' },
      pointers: { type: 'string' },
      only: { type: 'string' },
      timeout: { type: 'string' },
      'probe-timeout': { type: 'string' },
      'calls-per-kernel': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      unseeded: { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const seed = integer(values.seed, '--seed', randomInt(2 ** 31))
  // The generator mixes the seed as a 32-bit integer: larger ones would collide with smaller.
  if (seed >= 2 ** 32) throw new UsageError(`--seed takes a 32-bit integer, not ${seed}`)
  const options: FuzzOptions = {
    seed,
    calls: integer(values.calls, '--calls', 100_000),
    firstCall: integer(values.from, '--from', 0),
    onProgress: (report) => console.log(summary(report)),
    onFinding: printFinding,
    unseeded: values.unseeded,
  }
  const classes = pointerClasses(values.pointers)
  if (classes !== undefined) options.pointerClasses = classes
  if (values.only !== undefined) options.only = values.only.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (values.timeout !== undefined) options.callTimeoutMs = integer(values.timeout, '--timeout', 0)
  if (values['probe-timeout'] !== undefined) options.probeTimeoutMs = integer(values['probe-timeout'], '--probe-timeout', 0)
  if (values['calls-per-kernel'] !== undefined) {
    options.callsPerKernel = Math.max(1, integer(values['calls-per-kernel'], '--calls-per-kernel', 1))
  }
  if (values.verbose) options.onCall = (line) => console.log(line)
  console.log(`fuzzing ${options.calls} syscalls from call ${options.firstCall ?? 0} with seed ${seed}`)
  const report = await fuzzSyscalls(options)
  printReport(report)
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`)
  return report.traps.length + report.hangs.length + report.uncleanHalts.length === 0 ? 0 : 1
}

let status: number
try {
  status = await main(process.argv.slice(2))
} catch (error) {
  if (!(error instanceof UsageError || error instanceof FuzzOptionsError || (error instanceof TypeError && 'code' in error))) {
    throw error
  }
  console.error(`${error.message}\n${USAGE}`)
  status = 2
}
// A hung kernel the fuzzer gave up on may still be spinning on the event loop: leave without it.
process.exit(status)
