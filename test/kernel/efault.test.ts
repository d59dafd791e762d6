// SPDX-License-Identifier: MIT
// Bad user pointers: every class of address a caller can pass gets EFAULT from read, write, openat and
// fstat64 (Linux's answer), nothing is read from or written to kernel memory, and the kernel goes on.
import { describe, expect, it } from 'vitest'
import { type Kernel, startKernel } from '../../src/index.js'

const EFAULT = 14

interface PointerClass {
  name: string
  /** The address, given the end of the wasm memory. */
  address: (memoryEnd: number) => number
  /** The byte count to pass with it (buffers only). */
  size: number
}

/**
 * Addresses outside the user arena, where k.sys stages arguments. Sizes are
 * chosen so that each class is bad on its own: a small size where the address
 * is the problem, a wrapping or straddling one where the range is.
 */
const POINTER_CLASSES: readonly PointerClass[] = [
  { name: 'NULL', address: () => 0, size: 4096 },
  { name: 'NULL + 1', address: () => 1, size: 16 },
  { name: 'the first page after NULL (kernel data)', address: () => 4096, size: 16 },
  { name: 'just below the end of memory', address: (end) => end - 64, size: 16 },
  { name: 'straddling the end of memory', address: (end) => end - 8, size: 4096 },
  { name: 'just beyond the end of memory', address: (end) => end, size: 16 },
  { name: '0xfffff000', address: () => 0xffff_f000, size: 16 },
  { name: '0xfffff000 with a size that wraps', address: () => 0xffff_f000, size: 0x2000 },
  { name: '0xffffffff', address: () => 0xffff_ffff, size: 1 },
]

function nr(k: Kernel, name: string): number {
  const info = k.syscalls.find((s) => s.name === name)
  if (info === undefined) throw new Error(`no syscall ${name} in the kernel's table`)
  return info.nr
}

function memoryEnd(k: Kernel): number {
  return k.stats().heap.memoryBytes
}

async function openFile(k: Kernel, path: string, flags: number, content?: string): Promise<number> {
  const { AT_FDCWD, O_CREAT, O_WRONLY, O_TRUNC } = k.constants
  if (content !== undefined) {
    const fd = await k.sys.openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
    const bytes = new TextEncoder().encode(content)
    expect(await k.sys.write(fd, bytes, bytes.length)).toBe(bytes.length)
    await k.sys.close(fd)
  }
  return k.sys.openat(AT_FDCWD, path, flags, 0o644)
}

/** Every class through call(address, size); each must give -EFAULT. */
async function expectEfaultForEveryClass(k: Kernel, call: (address: number, size: number) => Promise<number>): Promise<void> {
  const results: Record<string, number> = {}
  for (const cls of POINTER_CLASSES) results[cls.name] = await call(cls.address(memoryEnd(k)), cls.size)
  expect(results).toEqual(Object.fromEntries(POINTER_CLASSES.map((cls) => [cls.name, -EFAULT])))
}

describe('bad user pointers give EFAULT, never a trap', () => {
  it('read into any address outside user memory', async () => {
    await using k = await startKernel()
    const fd = await openFile(k, '/efault-read', k.constants.O_RDONLY, 'kernel data must stay as it is')
    await expectEfaultForEveryClass(k, (address, size) => k.syscall(nr(k, 'read'), fd, address, size))
    // The file position did not move: nothing was read.
    const buf = new Uint8Array(64)
    expect(new TextDecoder().decode(buf.subarray(0, await k.sys.read(fd, buf, buf.length))))
      .toBe('kernel data must stay as it is')
    expect(await k.sys.getpid()).toBe(1)
  })

  it('write from any address outside user memory', async () => {
    await using k = await startKernel()
    const { O_WRONLY, O_CREAT, O_RDONLY } = k.constants
    const fd = await openFile(k, '/efault-write', O_WRONLY | O_CREAT)
    await expectEfaultForEveryClass(k, (address, size) => k.syscall(nr(k, 'write'), fd, address, size))
    const reader = await openFile(k, '/efault-write', O_RDONLY)
    expect(await k.sys.read(reader, new Uint8Array(64), 64), 'bytes that reached the file').toBe(0)
    expect(await k.sys.getpid()).toBe(1)
  })

  it('openat with a path at any address outside user memory', async () => {
    await using k = await startKernel()
    const { AT_FDCWD, O_RDONLY } = k.constants
    await expectEfaultForEveryClass(k, (address) => k.syscall(nr(k, 'openat'), AT_FDCWD, address, O_RDONLY, 0))
    expect(await k.sys.getpid()).toBe(1)
  })

  it('fstat64 into any address outside user memory', async () => {
    await using k = await startKernel()
    const fd = await openFile(k, '/efault-stat', k.constants.O_RDONLY, 'x')
    await expectEfaultForEveryClass(k, (address) => k.syscall(nr(k, 'fstat64'), fd, address))
    expect(await k.sys.getpid()).toBe(1)
  })

  it('a buffer in user memory with a size running past its end', async () => {
    await using k = await startKernel()
    const fd = await openFile(k, '/efault-size', k.constants.O_RDONLY, 'short')
    // The buffer is staged in the user arena; the count claims far more than the arena holds.
    expect(await k.syscall(nr(k, 'read'), fd, new Uint8Array(16), 0xffff_ffff)).toBe(-EFAULT)
    expect(await k.syscall(nr(k, 'read'), fd, new Uint8Array(16), 0x7fff_f000)).toBe(-EFAULT)
    // The same buffer with its own size works.
    const buf = new Uint8Array(16)
    expect(await k.syscall(nr(k, 'read'), fd, buf, buf.length)).toBe(5)
    expect(new TextDecoder().decode(buf.subarray(0, 5))).toBe('short')
  })

  it('an empty range is fine at NULL, as on Linux', async () => {
    await using k = await startKernel()
    const fd = await openFile(k, '/efault-empty', k.constants.O_RDONLY, 'data')
    expect(await k.syscall(nr(k, 'read'), fd, 0, 0)).toBe(0)
  })
})

describe('the user arena', () => {
  it('a call whose buffers do not fit is a RangeError naming the option; the kernel goes on', async () => {
    await using k = await startKernel({ userMemoryMiB: 1 })
    const { AT_FDCWD, O_CREAT, O_WRONLY } = k.constants
    const fd = await k.sys.openat(AT_FDCWD, '/big', O_CREAT | O_WRONLY, 0o644)
    const big = new Uint8Array(2 * 1024 * 1024)
    await expect(k.sys.write(fd, big, big.length)).rejects.toThrow(RangeError)
    await expect(k.sys.write(fd, big, big.length)).rejects.toThrow(/userMemoryMiB/)
    const fits = new Uint8Array(512 * 1024)
    expect(await k.sys.write(fd, fits, fits.length)).toBe(fits.length)
    expect(await k.sys.getpid()).toBe(1)
  })

  it('a bad size is a RangeError before anything boots', async () => {
    await expect(startKernel({ userMemoryMiB: 0 })).rejects.toThrow(RangeError)
    await expect(startKernel({ userMemoryMiB: 1.5 })).rejects.toThrow(RangeError)
  })
})
