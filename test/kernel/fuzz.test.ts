// SPDX-License-Identifier: MIT
// The syscall fuzzer's CI slice: a fixed seed, 2 000 raw syscalls with bad pointers of every class;
// no trap, no hang, and the kernel still answers getpid and halts. `npm run fuzz` runs longer ones.
import { describe, expect, it } from 'vitest'
import { loadKernelImage, startKernel } from '../../src/index.js'
import {
  EXCLUDED, POINTER_CLASSES, type FuzzReport, callSlots, eligibleSyscalls, fuzzSyscalls, generateCall,
} from '../fuzz/syscall-fuzzer.js'

/** The CI slice: its seed and length are fixed so that a red run replays exactly. */
const CI_SEED = 20_250_801
const CI_CALLS = 2000

function findings(report: FuzzReport): string[] {
  return [...report.traps, ...report.hangs, ...report.uncleanHalts]
    .map((f) => `${f.kind} at ${f.call}: ${f.error}\n    replay: ${f.replay}`)
}

describe('the syscall fuzzer', () => {
  it('generates every call from (seed, index) alone, over the whole table, with pointers of every class where they belong', async () => {
    const { data } = await loadKernelImage()
    const table = eligibleSyscalls(data.syscalls, EXCLUDED)
    const layout = { userStart: 0x0500_0000, userEnd: 0x0600_0000, memoryEnd: 0x0680_0000, fds: [3, 4, 5] }
    const calls = Array.from({ length: CI_CALLS }, (_, i) => generateCall(CI_SEED, i, table, layout))
    expect(generateCall(CI_SEED, 1234, table, layout), 'call 1234 regenerated differently').toEqual(calls[1234])

    const named = new Set(calls.map((c) => c.syscall.name))
    expect(named.size / table.length, 'share of the table the slice reaches').toBeGreaterThan(0.9)
    for (const name of Object.keys(EXCLUDED)) expect(named, `${name} is excluded`).not.toContain(name)
    const sources = new Set(calls.flatMap((c) => c.args.map((a) => a.source)))
    for (const cls of POINTER_CLASSES) expect(sources, `pointer class ${cls} never drawn`).toContain(cls)

    const inUser = (a: number): boolean => a >= layout.userStart && a < layout.userEnd
    const where: Record<string, (address: number) => boolean> = {
      'null': (a) => a === 0,
      'first-page': (a) => a > 0 && a < 4096,
      'user': inUser,
      'inside': (a) => a >= 4096 && a < layout.memoryEnd && !inUser(a),
      'straddle': (a) => (a < layout.userEnd && a >= layout.userEnd - 16) || (a < layout.memoryEnd && a >= layout.memoryEnd - 16),
      'beyond': (a) => a >= layout.memoryEnd,
    }
    for (const call of calls) {
      for (const arg of call.args) {
        const check = where[arg.source]
        if (check !== undefined) expect(check(Number(arg.value) >>> 0), `${call.syscall.name}.${arg.name} = ${arg.value} as ${arg.source}`).toBe(true)
        if (arg.source === 'buffer' || arg.source === 'path') expect(arg.value).toBeInstanceOf(Uint8Array)
      }
      expect(callSlots(call).length).toBe(call.syscall.args.reduce((n, a) => n + a.size / 4, 0))
    }
  })

  it(`a ${CI_CALLS}-call slice with seed ${CI_SEED}: no trap, no hang, getpid answered, clean halt`, async () => {
    const report = await fuzzSyscalls({ seed: CI_SEED, calls: CI_CALLS })
    expect(findings(report)).toEqual([])
    expect(report.calls).toBe(CI_CALLS)
    // Most calls return; the rest blocked legitimately (reads of empty pipes, sleeps) while getpid was answered.
    expect(report.returned + report.blocked).toBe(CI_CALLS)
    expect(report.final, 'the last kernel after the slice').toEqual({ getpid: 1, halt: 0 })
  }, 600_000)

  it('the same slice on kernels loaded from the boot snapshot (unseeded): no trap, no hang, clean halts', async () => {
    // A kernel of this file's options booted first, so that every kernel of the slice is loaded.
    await (await startKernel({ memoryMiB: 64, fibers: 'asyncify' })).halt()
    const report = await fuzzSyscalls({ seed: CI_SEED, calls: CI_CALLS, unseeded: true })
    expect(report.loadedKernels).toBe(report.kernels)
    expect(findings(report)).toEqual([])
    expect(report.returned + report.blocked).toBe(CI_CALLS)
    expect(report.final, 'the last kernel after the slice').toEqual({ getpid: 1, halt: 0 })
  }, 600_000)
})
