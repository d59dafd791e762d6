// SPDX-License-Identifier: MIT
// LKL's boot sequence (tools/lkl/tests/boot.c) written the LKL way, with uklkl/lkl's
// names only: one kernel started with lkl_host_ops, cases in boot.c's order sharing
// its state (the file it creates, the fds it opens), results as -errno. It shows a
// script ported from LKL reads the same; src/cli/boot.ts is the same sequence
// through the public API, as independent cases.
import { describe, expect, it } from 'vitest'
import lkl, { lkl_host_ops } from '../../src/lkl.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const int32 = (bytes: Uint8Array, index: number): number => new DataView(bytes.buffer).getInt32(index * 4, true)

describe.sequential("LKL's boot.c, with LKL's names", () => {
  let console = ''
  let fd = -1
  let dirFd = -1
  const pipeFds = new Uint8Array(8)

  it('start_kernel', async () => {
    const ops = { ...lkl_host_ops, print: (text: string) => { console += text } }
    expect(await lkl.lkl_start_kernel(ops, 'mem=16M loglevel=8')).toBe(0)
    expect(console).toMatch(/Linux version 6\.12/)
  })
  it('getpid', async () => expect(await lkl.lkl_sys_getpid()).toBe(1))
  it('umask', async () => expect(await lkl.lkl_sys_umask(0o777)).toBe(0o22))
  it('umask2', async () => expect(await lkl.lkl_sys_umask(0)).toBe(0o777))
  it('creat', async () => {
    fd = await lkl.lkl_sys_creat('/file', 0o721)
    expect(fd).toBeGreaterThanOrEqual(0)
  })
  it('close', async () => expect(await lkl.lkl_sys_close(fd)).toBe(0))
  it('failopen', async () => expect(await lkl.lkl_sys_open('/file2', lkl.LKL_O_RDONLY, 0)).toBe(-lkl.LKL_ENOENT))
  it('open', async () => {
    fd = await lkl.lkl_sys_open('/file', lkl.LKL_O_RDWR, 0)
    expect(fd).toBeGreaterThanOrEqual(0)
  })
  it('write', async () => expect(await lkl.lkl_sys_write(fd, encoder.encode('test\0'), 5)).toBe(5))
  it('lseek_cur', async () => expect(await lkl.lkl_sys_lseek(fd, 0, lkl.LKL_SEEK_CUR)).toBe(5))
  it('lseek_end', async () => expect(await lkl.lkl_sys_lseek(fd, 0, lkl.LKL_SEEK_END)).toBe(5))
  it('lseek_set', async () => expect(await lkl.lkl_sys_lseek(fd, 0, lkl.LKL_SEEK_SET)).toBe(0))
  it('read', async () => {
    const buf = new Uint8Array(5)
    expect(await lkl.lkl_sys_read(fd, buf, 5)).toBe(5)
    expect(decoder.decode(buf)).toBe('test\0')
  })
  it('fstat', async () => {
    const st = new Uint8Array(lkl.kernel?.buffer('stat64').length ?? 0)
    expect(await lkl.lkl_sys_fstat(fd, st)).toBe(0)
    const fields = lkl.kernel?.decode('stat64', st)
    expect(fields?.st_mode).toBe(lkl.LKL_S_IFREG | 0o721)
    expect(fields?.st_size).toBe(5n)
  })
  it('mkdir', async () => expect(await lkl.lkl_sys_mkdir('/mnt', 0o721)).toBe(0))
  it('stat', async () => {
    const st = new Uint8Array(lkl.kernel?.buffer('stat64').length ?? 0)
    expect(await lkl.lkl_sys_stat('/mnt', st)).toBe(0)
    expect(lkl.kernel?.decode('stat64', st).st_mode).toBe(lkl.LKL_S_IFDIR | 0o721)
  })
  it('nanosleep', async () => {
    const ts = lkl.kernel?.encode('timespec', { tv_sec: 0n, tv_nsec: 10_000_000n }) ?? null
    const start = process.hrtime.bigint()
    expect(await lkl.lkl_sys_clock_nanosleep_time64(lkl.LKL_CLOCK_MONOTONIC, 0, ts, null)).toBe(0)
    expect(process.hrtime.bigint() - start).toBeGreaterThanOrEqual(9_000_000n)
  })
  it('pipe2', async () => {
    expect(await lkl.lkl_sys_pipe2(pipeFds, lkl.LKL_O_NONBLOCK)).toBe(0)
    const message = encoder.encode('Hello world!')
    expect(await lkl.lkl_sys_write(int32(pipeFds, 1), message, message.length)).toBe(message.length)
    const buf = new Uint8Array(message.length)
    expect(await lkl.lkl_sys_read(int32(pipeFds, 0), buf, buf.length)).toBe(message.length)
    expect(decoder.decode(buf)).toBe('Hello world!')
  })
  it('epoll', async () => {
    const epfd = await lkl.lkl_sys_epoll_create(1)
    expect(epfd).toBeGreaterThanOrEqual(0)
    const event = lkl.kernel?.encode('epoll_event', { events: lkl.LKL_EPOLLIN, data: 0n }) ?? null
    expect(await lkl.lkl_sys_epoll_ctl(epfd, lkl.LKL_EPOLL_CTL_ADD, int32(pipeFds, 0), event)).toBe(0)
    const events = new Uint8Array(event?.length ?? 0)
    expect(await lkl.lkl_sys_epoll_wait(epfd, events, 1, 0)).toBe(0)
    expect(await lkl.lkl_sys_write(int32(pipeFds, 1), encoder.encode('x'), 1)).toBe(1)
    expect(await lkl.lkl_sys_epoll_wait(epfd, events, 1, 0)).toBe(1)
  })
  it('mount_fs_proc', async () => expect(await lkl.lkl_mount_fs('proc')).toBe(0))
  it('chdir_proc', async () => expect(await lkl.lkl_sys_chdir('/proc')).toBe(0))
  it('open_cwd', async () => {
    dirFd = await lkl.lkl_sys_open('.', lkl.LKL_O_RDONLY | lkl.LKL_O_DIRECTORY, 0)
    expect(dirFd).toBeGreaterThanOrEqual(0)
  })
  it('getdents64', async () => {
    const buf = new Uint8Array(4096)
    const n = await lkl.lkl_sys_getdents64(dirFd, buf, buf.length)
    expect(n).toBeGreaterThan(0)
    const names: string[] = []
    for (let off = 0; off < n;) {
      const d = lkl.kernel?.decode('linux_dirent64', buf, off)
      if (d === undefined) break
      names.push(decoder.decode(d.d_name.subarray(0, d.d_name.indexOf(0))))
      off += d.d_reclen
    }
    expect(names).toEqual(expect.arrayContaining(['self', 'meminfo']))
  })
  it('close_dir_fd', async () => expect(await lkl.lkl_sys_close(dirFd)).toBe(0))
  it('chdir_root', async () => expect(await lkl.lkl_sys_chdir('/')).toBe(0))
  it('umount_fs_proc', async () => expect(await lkl.lkl_sys_umount('/proc', 0)).toBe(0))
  it('lo_ifup', async () => expect(await lkl.lkl_if_up(1)).toBe(0))
  it('gettid', async () => expect(await lkl.lkl_sys_gettid()).toBeGreaterThan(0))
  it('stop_kernel', async () => expect(await lkl.lkl_sys_halt()).toBe(0))
})
