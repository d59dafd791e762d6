// SPDX-License-Identifier: MIT
// startKernel({ hostOps }): replaced ops are what the kernel calls, and a wrong
// replacement is a clear error at start (a TypeError) or at its first call (a
// HostOpMisuseError), never a trap or a hang.
import { describe, expect, it } from 'vitest'
import { HostOpMisuseError, type HostOpReplacements, startKernel } from '../../src/index.js'

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
