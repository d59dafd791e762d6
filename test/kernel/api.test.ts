// SPDX-License-Identifier: MIT
// The public API: k.sys for the whole table, LinuxError, the raw form, structs and
// constants, images checked against the generated types, isolation, halt.
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { type KernelData, KernelStoppedError, LinuxError, UklklError, loadKernelImage, startKernel } from '../../src/index.js'

const BUILD = new URL('../../build/', import.meta.url)

/** A copy of the built image whose data went through change; resolves with its folder and a cleanup. */
function alteredImage(change: (data: KernelData) => void): { dir: URL, [Symbol.dispose](): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'uklkl-image-'))
  copyFileSync(new URL('lkl.wasm', BUILD), path.join(dir, 'lkl.wasm'))
  const data = JSON.parse(readFileSync(new URL('kernel-data.json', BUILD), 'utf8')) as KernelData
  change(data)
  writeFileSync(path.join(dir, 'kernel-data.json'), JSON.stringify(data))
  return { dir: pathToFileURL(`${dir}/`), [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) }
}

describe('the public API', () => {
  it('k.sys has a function for every syscall of the kernel table', async () => {
    await using k = await startKernel()
    expect(k.syscalls.length).toBeGreaterThan(250)
    const bound = new Map(Object.entries(k.sys))
    const missing = k.syscalls.filter((s) => typeof bound.get(s.name) !== 'function').map((s) => s.name)
    expect(missing).toEqual([])
    for (const name of ['openat', 'read', 'write', 'close', 'getpid', 'mount', 'socket', 'epoll_pwait', 'clock_nanosleep_time64']) {
      expect(bound.get(name), name).toBeTypeOf('function')
    }
  })

  it('a failing syscall throws LinuxError with errno, code and syscall; the raw form returns -errno', async () => {
    await using k = await startKernel()
    const error = await k.sys.openat(k.constants.AT_FDCWD, '/nowhere', 0, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LinuxError)
    expect(error).toMatchObject({ errno: 2, code: 'ENOENT', syscall: 'openat' })
    const closeNr = k.syscalls.find((s) => s.name === 'close')?.nr ?? -1
    expect(await k.syscall(closeNr, 9999)).toBe(-k.constants.EBADF)
  })

  it('the raw form passes a Uint8Array as its address and copies it back', async () => {
    await using k = await startKernel()
    const getcwd = k.syscalls.find((s) => s.name === 'getcwd')?.nr ?? -1
    const buf = new Uint8Array(16).fill(0xff)
    expect(await k.syscall(getcwd, buf, buf.length)).toBe(2)
    expect([...buf.subarray(0, 3)]).toEqual([0x2f, 0, 0xff])
  })

  it('a string argument reaches the kernel as its UTF-8, as the host\'s fs writes it, in as many bytes of the arena', async () => {
    await using k = await startKernel()
    const { AT_FDCWD, O_CREAT, O_WRONLY } = k.constants
    // 255 bytes (NAME_MAX) from 85 units, 252 from 126, and a lone surrogate (U+FFFD to both).
    const long = '日'.repeat(85)
    const names = [long, '😀'.repeat(63), 'a\ud800b']
    const host = mkdtempSync(path.join(os.tmpdir(), 'uklkl-names-'))
    try {
      await k.sys.mkdirat(AT_FDCWD, '/names', 0o755)
      // A directory of a long name: its files' paths are over 512 bytes, past a small argument block.
      const deep = `/${'語'.repeat(85)}`
      await k.sys.mkdirat(AT_FDCWD, `/names${deep}`, 0o755)
      mkdirSync(`${host}${deep}`)
      for (const name of names) {
        for (const dir of ['', deep]) {
          await k.sys.close(await k.sys.openat(AT_FDCWD, `/names${dir}/${name}`, O_CREAT | O_WRONLY, 0o644))
          writeFileSync(`${host}${dir}/${name}`, '')
        }
      }
      for (const dir of ['', deep]) {
        expect((await k.fs.readdir(`/names${dir}`)).sort(), dir).toEqual(readdirSync(`${host}${dir}`).sort())
      }
      // Half the user arena in ASCII, as a write's buffer, takes half the arena: not 3 bytes a unit.
      const half = (k.stats().userMemory?.size ?? 0) / 2
      expect(half).toBeGreaterThan(0)
      const fd = await k.sys.openat(AT_FDCWD, '/names/big', O_CREAT | O_WRONLY, 0o644)
      expect(await k.sys.write(fd, 'a'.repeat(half), half)).toBe(half)
      await k.sys.close(fd)
    } finally {
      rmSync(host, { recursive: true, force: true })
    }
  })

  it('a read fills only the bytes it returns: the rest of the array, and all of it on an error, stay as they were', async () => {
    await using k = await startKernel()
    const { AT_FDCWD, O_RDONLY } = k.constants
    await k.fs.writeFile('/three', 'abc')
    const fd = await k.sys.openat(AT_FDCWD, '/three', O_RDONLY, 0)
    // getrandom leaves 16 random bytes in the arena, where the read's copy is staged next.
    expect(await k.sys.getrandom(new Uint8Array(16), 16, 0)).toBe(16)
    const buf = new Uint8Array(16).fill(0xaa)
    expect(await k.sys.read(fd, buf, buf.length)).toBe(3)
    expect([...buf]).toEqual([0x61, 0x62, 0x63, ...Array<number>(13).fill(0xaa)])
    expect(await k.sys.read(fd, buf, buf.length)).toBe(0)
    const readNr = k.syscalls.find((s) => s.name === 'read')?.nr ?? -1
    expect(await k.syscall(readNr, 9999, buf, buf.length)).toBe(-k.constants.EBADF)
    expect([...buf]).toEqual([0x61, 0x62, 0x63, ...Array<number>(13).fill(0xaa)])
    await k.sys.close(fd)
  })

  it('constants include errno names and the socket flags; structs decode with typed fields', async () => {
    await using k = await startKernel()
    expect(k.constants.ENOENT).toBe(2)
    expect([k.constants.SHUT_WR, k.constants.SOCK_STREAM, k.constants.AF_INET, k.constants.IFF_UP]).toEqual([1, 1, 2, 1])
    const st = k.buffer('stat64')
    await k.sys.fstatat64(k.constants.AT_FDCWD, '/', st, 0)
    const { st_mode, st_size } = k.decode('stat64', st)
    expect(st_mode & k.constants.S_IFMT).toBe(k.constants.S_IFDIR)
    expect(typeof st_size).toBe('bigint')
    const ts = k.encode('timespec', { tv_sec: 3, tv_nsec: 4n })
    expect(k.decode('timespec', ts)).toEqual({ tv_sec: 3n, tv_nsec: 4n })
    expect(() => k.buffer('no_such_struct' as 'stat64')).toThrow(/no struct no_such_struct/)
  })

  it('refuses an image whose data lacks what the generated types promise', async () => {
    using image = alteredImage((data) => {
      delete data.constants.SHUT_WR
      data.syscalls = data.syscalls.filter((s) => s.name !== 'getpid')
    })
    await expect(loadKernelImage(image.dir)).rejects.toThrow(
      /does not match the API types of this package .*it lacks syscall getpid, constant SHUT_WR/)
    await expect(loadKernelImage(new URL('file:///nowhere/'))).rejects.toBeInstanceOf(UklklError)
  })

  it('a struct field whose layout disagrees with its type throws instead of reading wrong', async () => {
    using image = alteredImage((data) => {
      const field = data.structs.stat64?.fields.st_size
      if (field !== undefined) field.size = 4
    })
    await using k = await startKernel({ image: await loadKernelImage(image.dir) })
    expect(() => k.decode('stat64', k.buffer('stat64'))).toThrow(/struct stat64 of this kernel image has no 8-byte integer field st_size/)
  })

  it('bad options are typed errors', async () => {
    await expect(startKernel({ memoryMiB: 0 })).rejects.toBeInstanceOf(RangeError)
    const image = await loadKernelImage()
    await expect(startKernel({ image: { data: image.data, constants: image.constants, fibers: image.fibers } })).rejects.toThrow(
      /options.image must be a kernel image from loadKernelImage/)
  })

  it('the kernel\'s wall clock is the host\'s: a new file has today\'s mtime', async () => {
    await using k = await startKernel()
    const before = Date.now()
    await k.fs.writeFile('/now', 'x')
    const { mtimeMs } = await k.fs.stat('/now')
    // Seconds of slack: the clock was set at boot, and the kernel's tick is coarse.
    expect(Math.abs(mtimeMs - before)).toBeLessThan(10_000)
  })

  it('two kernels in one process have independent filesystems', async () => {
    await using a = await startKernel()
    await using b = await startKernel()
    const { AT_FDCWD, O_CREAT, O_RDWR } = a.constants
    await a.sys.close(await a.sys.openat(AT_FDCWD, '/only-in-a', O_CREAT | O_RDWR, 0o600))
    await expect(b.sys.openat(AT_FDCWD, '/only-in-a', O_RDWR, 0)).rejects.toMatchObject({ code: 'ENOENT' })
    await a.sys.close(await a.sys.openat(AT_FDCWD, '/only-in-a', O_RDWR, 0))
  })

  it('calls after halt reject with KernelStoppedError', async () => {
    const k = await startKernel()
    expect(await k.halt()).toBe(0)
    await expect(k.sys.getpid()).rejects.toBeInstanceOf(KernelStoppedError)
    await expect(k.halt()).rejects.toBeInstanceOf(KernelStoppedError)
  })

  it('a process that exits inside a syscall: the call returns 0, the process is gone, the thread goes on as a new task', async () => {
    await using k = await startKernel()
    await using t = await k.thread({ newThreadGroup: true })
    const pid = await t.sys.getpid()
    expect(pid).toBeGreaterThan(1)
    expect(await k.sys.kill(pid, 0)).toBe(0)
    // exit_group never returns in Linux; here the host call it ended returns 0.
    expect(await t.sys.exit_group(7)).toBe(0)
    // Gone, not a zombie (pid 1 ignores SIGCHLD, so its children are reaped at once).
    await expect(k.sys.kill(pid, 0)).rejects.toMatchObject({ code: 'ESRCH' })
    await expect(k.fs.stat(`/proc/${pid}`)).rejects.toMatchObject({ code: 'ENOENT' })
    // Its next syscall clones a new task: a thread of pid 1, as any host thread's first.
    expect(await t.sys.getpid()).toBe(1)
    expect(await t.sys.gettid()).not.toBe(pid)
  })

  it('k.alloc: syscalls read and write a KernelBuffer in place, and it stays usable when the memory grows', async () => {
    await using k = await startKernel()
    const { AT_FDCWD, O_CREAT, O_RDWR } = k.constants
    const data = randomBytes(8192)
    using out = k.alloc(data.length)
    expect([...out.bytes.subarray(0, 16)]).toEqual(new Array(16).fill(0))
    out.bytes.set(data)
    const fd = await k.sys.openat(AT_FDCWD, '/in-place', O_CREAT! | O_RDWR!, 0o644)
    expect(await k.sys.pwrite64(fd, out, data.length, 0)).toBe(data.length)
    // Threads take their stacks from the heap, which grows: every view of the old memory is detached.
    const before = k.stats().heap.memoryBytes
    const view = out.bytes
    const threads = await Promise.all(Array.from({ length: 100 }, () => k.thread()))
    expect(k.stats().heap.memoryBytes).toBeGreaterThan(before)
    expect(view.byteLength).toBe(0)
    using back = k.alloc(data.length)
    expect(await k.sys.pread64(fd, back, data.length, 0)).toBe(data.length)
    expect(Buffer.from(back.bytes).equals(data)).toBe(true)
    expect(Buffer.from(out.bytes).equals(data)).toBe(true)
    // And through a plain Uint8Array, copied out as before.
    const copy = new Uint8Array(data.length)
    expect(await k.sys.pread64(fd, copy, data.length, 0)).toBe(data.length)
    expect(Buffer.from(copy).equals(data)).toBe(true)
    await Promise.all(threads.map((t) => t.exit()))
    back.free()
    await expect(k.sys.pread64(fd, back, 1, 0)).rejects.toThrow(/has been freed/)
    await k.sys.close(fd)
  })

  it('syscalls in flight at once: a blocking read resolves when another call writes', async () => {
    await using k = await startKernel()
    const fds = new Uint8Array(8)
    await k.sys.pipe2(fds, 0)
    const [rd, wr] = [new DataView(fds.buffer).getInt32(0, true), new DataView(fds.buffer).getInt32(4, true)]
    const buf = new Uint8Array(5)
    const reading = k.sys.read(rd, buf, 5)
    expect(await k.sys.write(wr, new TextEncoder().encode('hello'), 5)).toBe(5)
    expect(await reading).toBe(5)
    expect(new TextDecoder().decode(buf)).toBe('hello')
  })
})
