// SPDX-License-Identifier: MIT
// `uklkl/lkl`: LKL's names (lkl_start_kernel, lkl_sys_*, LKL_*, lkl_strerror) over
// the same kernel, returning -errno as LKL does; the default one-kernel object and
// lklFor(k) over an explicit kernel.
import { describe, expect, it } from 'vitest'
import { KernelStoppedError, startKernel } from '../../src/index.js'
import lkl, { lkl_host_ops, lklFor } from '../../src/lkl.js'

describe('uklkl/lkl', () => {
  it('runs a script written the LKL way on the default kernel', async () => {
    await expect(lkl.lkl_sys_getpid()).rejects.toBeInstanceOf(KernelStoppedError)
    let printed = ''
    expect(await lkl.lkl_start_kernel({ ...lkl_host_ops, print: (text) => { printed += text } }, 'mem=32M')).toBe(0)
    try {
      expect(printed).toMatch(/Linux version 6\.12/)
      expect(await lkl.lkl_start_kernel(null)).toBe(-lkl.LKL_EBUSY)
      expect(await lkl.lkl_sys_getpid()).toBe(1)

      const missing = await lkl.lkl_sys_open('/nowhere', lkl.LKL_O_RDONLY)
      expect(missing).toBe(-lkl.LKL_ENOENT)
      expect(lkl.lkl_strerror(missing)).toBe('No such file or directory')

      const fd = await lkl.lkl_sys_open('/file', lkl.LKL_O_CREAT | lkl.LKL_O_RDWR, 0o644)
      expect(fd).toBeGreaterThanOrEqual(0)
      expect(await lkl.lkl_sys_write(fd, new TextEncoder().encode('hello'), 5)).toBe(5)
      expect(await lkl.lkl_sys_lseek(fd, 1, lkl.LKL_SEEK_SET)).toBe(1)
      const buf = new Uint8Array(4)
      expect(await lkl.lkl_sys_read(fd, buf, 4)).toBe(4)
      expect(new TextDecoder().decode(buf)).toBe('ello')
      const kernel = lkl.kernel
      if (kernel === null) throw new Error('no default kernel after lkl_start_kernel')
      const st = kernel.buffer('stat64')
      expect(await lkl.lkl_sys_stat('/file', st)).toBe(0)
      expect(kernel.decode('stat64', st).st_size).toBe(5n)
      expect(await lkl.lkl_sys_close(fd)).toBe(0)
      expect(await lkl.lkl_sys_close(fd)).toBe(-lkl.LKL_EBADF)

      expect(await lkl.lkl_sys_mkdir('/dir', 0o755)).toBe(0)
      expect(await lkl.lkl_sys_mkdir('/dir', 0o755)).toBe(-lkl.LKL_EEXIST)
      expect(await lkl.lkl_sys_rename('/file', '/dir/file')).toBe(0)
      expect(await lkl.lkl_sys_rmdir('/dir')).toBe(-lkl.LKL_ENOTEMPTY)
      expect(await lkl.lkl_sys_unlink('/dir/file')).toBe(0)
      expect(await lkl.lkl_sys_rmdir('/dir')).toBe(0)

      expect(await lkl.lkl_mount_fs('proc')).toBe(0)
      const fs = kernel.buffer('statfs64')
      expect(await lkl.lkl_sys_statfs('/proc', fs)).toBe(0)
      expect(kernel.decode('statfs64', fs).f_type).toBe(lkl.LKL_PROC_SUPER_MAGIC)
      expect(await lkl.lkl_if_up(1)).toBe(0)
      expect(await lkl.lkl_if_up(999)).toBe(-lkl.LKL_ENODEV)
    } finally {
      expect(await lkl.lkl_sys_halt()).toBe(0)
    }
    expect(lkl.kernel).toBeNull()
    expect(() => lkl.LKL_O_RDWR).toThrow(KernelStoppedError)
  })

  it('lklFor(k) gives the same names over an explicit kernel', async () => {
    await using k = await startKernel()
    const l = lklFor(k)
    expect(l.LKL_O_RDWR).toBe(k.constants.O_RDWR)
    expect(await l.lkl_sys_getpid()).toBe(1)
    const names = new Map(Object.entries(l))
    const missing = k.syscalls.filter((s) => typeof names.get(`lkl_sys_${s.name}`) !== 'function').map((s) => s.name)
    expect(k.syscalls.length).toBeGreaterThan(250)
    expect(missing, 'syscalls of the table without their lkl_sys_ name').toEqual([])
    const pipe = new Uint8Array(8)
    expect(await l.lkl_sys_pipe(pipe)).toBe(0)
    expect(await l.lkl_sys_epoll_create(0)).toBe(-k.constants.EINVAL)
    expect(await l.lkl_sys_fcntl(-1, k.constants.F_GETFD, 0)).toBe(-k.constants.EBADF)
    // A wrong argument type is not an errno: it still throws.
    await expect(l.lkl_sys_close('zero' as unknown as number)).rejects.toBeInstanceOf(TypeError)
  })
})
