// SPDX-License-Identifier: MIT
// startKernel({ hostOps }): replaced ops are what the kernel calls, and a wrong
// replacement is a clear error at start (a TypeError) or at its first call (a
// HostOpMisuseError), never a trap or a hang.
import { describe, expect, it } from 'vitest'
import { HostOpMisuseError, type HostOpReplacements, KernelStoppedError, PanicError, startKernel } from '../../src/index.js'
import { panicByFillingRam } from '../support/panic.js'

describe('replaced host ops', () => {
  it('print, time and random replacements are what the kernel calls', async () => {
    let printed = ''
    let clockReads = 0
    let randomBytes = 0
    const start = process.hrtime.bigint()
    await using k = await startKernel({
      hostOps: {
        print: (text) => { printed += text },
        time: () => {
          clockReads++
          return process.hrtime.bigint() - start
        },
        random: (bytes) => {
          randomBytes += bytes.length
          bytes.fill(0x5a)
        },
      },
    })
    expect(printed).toMatch(/Linux version 6\.12/)
    expect(k.console()).toContain(printed.slice(0, 200))
    expect(clockReads).toBeGreaterThan(0)
    // The crng is seeded from the replacement: getrandom answers at once.
    expect(randomBytes).toBeGreaterThanOrEqual(32)
    expect(await k.sys.getrandom(new Uint8Array(16), 16, 0)).toBe(16)
  })

  it('a time replacement is the kernel\'s clock: stopped, clock_gettime stands still', async () => {
    const start = process.hrtime.bigint()
    let stoppedAt: bigint | null = null
    await using k = await startKernel({
      hostOps: { time: () => stoppedAt ?? process.hrtime.bigint() - start },
    })
    const now = async (): Promise<bigint> => {
      const ts = k.buffer('timespec')
      await k.sys.clock_gettime64(k.constants.CLOCK_MONOTONIC, ts)
      const { tv_sec, tv_nsec } = k.decode('timespec', ts)
      return tv_sec * 1_000_000_000n + tv_nsec
    }
    const running = [await now(), await now()]
    expect(running[1]).toBeGreaterThan(running[0] ?? 0n)
    stoppedAt = process.hrtime.bigint() - start
    const stopped = [await now(), await now(), await now()]
    expect(new Set(stopped).size).toBe(1)
    stoppedAt = null
    expect(await now()).toBeGreaterThan(stopped[0] ?? 0n)
  })

  it('a panic replacement gets the console tail, then calls reject with PanicError', async () => {
    let tail = ''
    const k = await startKernel({ memoryMiB: 8, hostOps: { panic: (consoleTail) => { tail = consoleTail } } })
    const outcome = await panicByFillingRam(k)
    expect(outcome).toBeInstanceOf(PanicError)
    expect(tail).toMatch(/Kernel panic - not syncing/)
    await expect(k.sys.getpid()).rejects.toBeInstanceOf(KernelStoppedError)
  })

  it.each<[string, unknown, RegExp]>([
    ['an unknown op', { prnt: () => undefined }, /no host op prnt/],
    ['an op the runtime keeps', { sem_down: () => undefined }, /host op sem_down cannot be replaced/],
    ['a value that is not a function', { time: 42 }, /host op time must be a function/],
    ['an async function', { time: async () => 1n }, /host op time may not suspend/],
    ['too many parameters', { print: (a: string, b: string) => a + b }, /host op print takes 1 argument/],
  ])('%s is a TypeError at start', async (_, hostOps, message) => {
    await expect(startKernel({ hostOps: hostOps as HostOpReplacements })).rejects.toThrow(message)
    await expect(startKernel({ hostOps: hostOps as HostOpReplacements })).rejects.toBeInstanceOf(TypeError)
  })

  it('a replacement that returns a promise or a wrong time is a HostOpMisuseError naming the op', async () => {
    const promised = await startKernel({ hostOps: { print: () => Promise.resolve() as unknown as undefined } })
      .then(() => null, (error: unknown) => error)
    expect(promised).toBeInstanceOf(HostOpMisuseError)
    expect(String(promised)).toMatch(/print .*returned a promise/)
    const negative = await startKernel({ hostOps: { time: () => -1n } }).then(() => null, (error: unknown) => error)
    expect(negative).toBeInstanceOf(HostOpMisuseError)
    expect(String(negative)).toMatch(/time .*-1, not a non-negative bigint/)
  })
})
