// SPDX-License-Identifier: MIT
// The public API: k.sys for the whole table, LinuxError, the raw form, isolation, halt.
import { describe, expect, it } from 'vitest'
import { KernelStoppedError, LinuxError, startKernel } from '../../src/index.js'

describe('the public API', () => {
  it('k.sys has a function for every syscall of the kernel table', async () => {
    await using k = await startKernel()
    expect(k.syscalls.length).toBeGreaterThan(250)
    const missing = k.syscalls.filter((s) => typeof k.sys[s.name] !== 'function').map((s) => s.name)
    expect(missing).toEqual([])
    for (const name of ['openat', 'read', 'write', 'close', 'getpid', 'mount', 'socket', 'epoll_pwait', 'clock_nanosleep_time64']) {
      expect(k.sys[name], name).toBeTypeOf('function')
    }
  })

  it('a failing syscall throws LinuxError with errno, code and syscall; the raw form returns -errno', async () => {
    await using k = await startKernel()
    const error = await k.sys.openat!(k.constants.AT_FDCWD, '/nowhere', 0, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LinuxError)
    expect(error).toMatchObject({ errno: 2, code: 'ENOENT', syscall: 'openat' })
    const closeNr = k.syscalls.find((s) => s.name === 'close')!.nr
    expect(await k.syscall(closeNr, 9999)).toBe(-9) // EBADF
  })

  it('two kernels in one process have independent filesystems', async () => {
    await using a = await startKernel()
    await using b = await startKernel()
    const { AT_FDCWD, O_CREAT, O_RDWR } = a.constants
    await a.sys.close!(await a.sys.openat!(AT_FDCWD, '/only-in-a', O_CREAT! | O_RDWR!, 0o600))
    await expect(b.sys.openat!(AT_FDCWD, '/only-in-a', O_RDWR!, 0)).rejects.toMatchObject({ code: 'ENOENT' })
    await a.sys.close!(await a.sys.openat!(AT_FDCWD, '/only-in-a', O_RDWR!, 0))
  })

  it('calls after halt reject with KernelStoppedError', async () => {
    const k = await startKernel()
    expect(await k.halt()).toBe(0)
    await expect(k.sys.getpid!()).rejects.toBeInstanceOf(KernelStoppedError)
    await expect(k.halt()).rejects.toBeInstanceOf(KernelStoppedError)
  })

  it('syscalls in flight at once: a blocking read resolves when another call writes', async () => {
    await using k = await startKernel()
    const fds = new Uint8Array(8)
    await k.sys.pipe2!(fds, 0)
    const [rd, wr] = [new DataView(fds.buffer).getInt32(0, true), new DataView(fds.buffer).getInt32(4, true)]
    const buf = new Uint8Array(5)
    const reading = k.sys.read!(rd, buf, 5)
    expect(await k.sys.write!(wr, new TextEncoder().encode('hello'), 5)).toBe(5)
    expect(await reading).toBe(5)
    expect(new TextDecoder().decode(buf)).toBe('hello')
  })
})
