// SPDX-License-Identifier: MIT
// The kernel port boots on the TS host and serves syscalls (the kernel-port acceptance).
import { describe, expect, it } from 'vitest'
import { startKernel } from '../../src/index.js'

describe('the kernel boots on the fiber host', () => {
  it('boots, serves file and directory syscalls and sleeps, then halts with every fiber ended', async () => {
    const k = await startKernel({ memoryMiB: 32 })
    expect(k.console()).toMatch(/Linux version 6\.12/)
    expect(await k.sys.getpid!()).toBeGreaterThan(0)

    const { AT_FDCWD, O_CREAT, O_RDWR, S_IFREG, S_IFDIR, CLOCK_MONOTONIC } = k.constants
    const fd = await k.sys.openat!(AT_FDCWD, '/port-file', O_CREAT! | O_RDWR!, 0o640)
    const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff)
    expect(await k.sys.write!(fd, data, data.length)).toBe(data.length)
    expect(await k.sys.pread64!(fd, new Uint8Array(1), 1, 0)).toBe(1)
    const back = new Uint8Array(data.length)
    expect(await k.sys.pread64!(fd, back, back.length, 0)).toBe(data.length)
    expect(back).toEqual(data)
    const st = k.buffer('stat64')
    await k.sys.fstat64!(fd, st)
    expect(k.decode('stat64', st)).toMatchObject({ st_size: 3000n, st_mode: S_IFREG! | 0o640 })
    await k.sys.close!(fd)

    await k.sys.mkdirat!(AT_FDCWD, '/port-dir', 0o750)
    await k.sys.fstatat64!(AT_FDCWD, '/port-dir', st, 0)
    expect(k.decode('stat64', st).st_mode).toBe(S_IFDIR! | 0o750)

    const start = performance.now()
    await k.sys.clock_nanosleep_time64!(CLOCK_MONOTONIC, 0, k.encode('timespec', { tv_sec: 0n, tv_nsec: 50_000_000n }), null)
    expect(performance.now() - start).toBeGreaterThanOrEqual(50)

    expect(await k.halt()).toBe(0)
    expect(k.stats().liveFibers, 'fibers left after halt').toBe(0)
  })
})
