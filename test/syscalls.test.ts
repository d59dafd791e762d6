// SPDX-License-Identifier: MIT
// k.sys marshalling, against a stand-in syscall entry with the arch's calling convention.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LinuxError } from '../src/errors.js'
import type { SyscallArg, SyscallInfo } from '../src/kernel-data.js'
import { KernelBuffer } from '../src/kernel-buffer.js'
import { bindSyscalls, utf8Length } from '../src/syscalls.js'
import { loadFixture } from './support/fixture.js'

const int = (name: string): SyscallArg => ({ name, type: 'int', size: 4, pointer: false, const: false })
const wide = (name: string): SyscallArg => ({ name, type: 'loff_t', size: 8, pointer: false, const: false })
const ptr = (name: string, isConst: boolean): SyscallArg =>
  ({ name, type: isConst ? 'const char*' : 'char*', size: 4, pointer: true, const: isConst })

const TABLE: SyscallInfo[] = [
  { nr: 0, name: 'add', entry: 'sys_add', args: [int('a'), int('b')] },
  { nr: 1, name: 'path_length', entry: 'sys_path_length', args: [ptr('path', true)] },
  { nr: 2, name: 'fill', entry: 'sys_fill', args: [ptr('buf', false), int('count')] },
  { nr: 3, name: 'fail', entry: 'sys_fail', args: [int('errno')] },
  { nr: 4, name: 'wide', entry: 'sys_wide', args: [int('fd'), wide('pos'), int('whence')] },
  { nr: 5, name: 'copy', entry: 'sys_copy', args: [ptr('src', true), ptr('dst', false), int('count')] },
  { nr: 2, name: 'ioctl_like', entry: 'sys_fill', args: [{ ...int('arg'), type: 'unsigned long' }, int('count')] },
]

async function fakeKernel() {
  const fx = await loadFixture('fake-syscalls')
  const sys = bindSyscalls(TABLE, { ENOENT: 2, EAGAIN: 11, EWOULDBLOCK: 11 }, {
    memory: fx.runtime.userMemory,
    check: () => undefined,
    invoke: <T>(nr: number, args: number, finish: (result: number) => T, abandon: () => void): Promise<T> =>
      fx.runtime.call('fake_syscall', [nr, args]).then((result) => finish(Number(result)), (error: unknown) => {
        abandon()
        throw error
      }),
  })
  return { fx, sys }
}

describe('k.sys marshalling', () => {
  it('passes scalars and returns the result', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    expect(await sys.add!(40, 2)).toBe(42)
    expect(await sys.add!(-5, 5000)).toBe(4995)
  })

  it('copies a string in, NUL-terminated, as UTF-8', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    expect(await sys.path_length!('/file')).toBe(5)
    expect(await sys.path_length!('/é')).toBe(3)
    // 3 bytes from one unit, 4 from two, a lone surrogate as U+FFFD; one longer than a small block.
    expect(await sys.path_length!('日本')).toBe(6)
    expect(await sys.path_length!('😀')).toBe(4)
    expect(await sys.path_length!('a\udc00b\ud800')).toBe(8)
    expect(await sys.path_length!('語'.repeat(1000))).toBe(3000)
  })

  it('measures a string as TextEncoder encodes it, whatever its UTF-16 units', () => {
    const encoder = new TextEncoder()
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }), (units) => {
      const text = String.fromCharCode(...units)
      expect(utf8Length(text)).toBe(encoder.encode(text).length)
    }), { seed: 11, numRuns: 2000 })
  })

  it('copies an output buffer back out', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    const buf = new Uint8Array(6).fill(0xff)
    expect(await sys.fill!(buf, 4)).toBe(4)
    expect([...buf]).toEqual([0, 1, 2, 3, 0xff, 0xff])
  })

  it('passes a buffer given for an unsigned long as its address, and copies it back (ioctl style)', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    const buf = new Uint8Array(3)
    expect(await sys.ioctl_like!(buf, 3)).toBe(3)
    expect([...buf]).toEqual([0, 1, 2])
    await expect(sys.add!(new Uint8Array(1), 1)).rejects.toThrow(/add: argument a \(int\) cannot take a Uint8Array/)
  })

  it('does not copy back through a const pointer', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    const src = new Uint8Array([1, 2, 3])
    const dst = new Uint8Array(3)
    await sys.copy!(src, dst, 3)
    expect([...dst]).toEqual([1, 2, 3])
    expect([...src]).toEqual([1, 2, 3])
  })

  it('splits a 64-bit argument into two slots, low word first', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    expect(await sys.wide!(3, (7n << 32n) + 5n, 1)).toBe(7 * 1000 + 5 + 1)
    expect(await sys.wide!(3, 9, 0)).toBe(9)
    // Numbers take the same two's-complement words as bigints, beyond 32 bits and below 0.
    expect(await sys.wide!(3, 2 ** 40 + 3, 0)).toBe(256 * 1000 + 3)
    // (whence lifts the results out of the -errno range.)
    expect(await sys.wide!(3, -1, 5000)).toBe(-1000 - 1 + 5000)
    expect(await sys.wide!(3, -1n, 5000)).toBe(-1000 - 1 + 5000)
    expect(await sys.wide!(3, -(2 ** 32) - 5, 5000)).toBe(-2000 - 5 + 5000)
    expect(await sys.wide!(3, -(2n ** 32n) - 5n, 5000)).toBe(-2000 - 5 + 5000)
  })

  it('passes a KernelBuffer by address: the call reads and writes it in place', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    const memory = fx.runtime.userMemory
    const src = new KernelBuffer(memory, memory.alloc(4), 4)
    const dst = new KernelBuffer(memory, memory.alloc(4096), 4096)
    src.bytes.set([9, 8, 7, 6])
    await sys.copy!(src, dst, 4)
    expect([...dst.bytes.subarray(0, 4)]).toEqual([9, 8, 7, 6])
    expect(await sys.fill!(dst, 3)).toBe(3)
    expect([...dst.bytes.subarray(0, 5)]).toEqual([0, 1, 2, 6, 0])
    // An unsigned long takes it too (ioctl style); a scalar does not.
    expect(await sys.ioctl_like!(src, 2)).toBe(2)
    expect([...src.bytes]).toEqual([0, 1, 7, 6])
    await expect(sys.add!(src, 1)).rejects.toThrow(/add: argument a \(int\) cannot take a KernelBuffer/)
    dst.free()
    await expect(sys.fill!(dst, 3)).rejects.toThrow(/KernelBuffer at 0x[0-9a-f]+ has been freed/)
    const foreign = new KernelBuffer({ ...memory }, src.address, 4)
    await expect(sys.fill!(foreign, 3)).rejects.toThrow(/belongs to another kernel/)
    src.free()
  })

  it('throws LinuxError with errno, code and syscall on -errno', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    const error = await sys.fail!(2).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LinuxError)
    expect(error).toMatchObject({ errno: 2, code: 'ENOENT', syscall: 'fail' })
    await expect(sys.fail!(11)).rejects.toMatchObject({ code: 'EAGAIN' })
  })

  it('rejects bad arguments with a TypeError naming the syscall', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    await expect(sys.add!(1, 2, 3)).rejects.toThrow(/add\(a, b\) takes 2 arguments/)
    await expect(sys.add!('x', 2)).rejects.toThrow(/add: argument a \(int\) cannot take a string/)
    await expect(sys.add!(1.5, 2)).rejects.toThrow(/must be an integer/)
  })

  it('frees its scratch memory', async () => {
    const { fx, sys } = await fakeKernel()
    await using _ = fx
    await sys.path_length!('/warm-up')
    const before = fx.runtime.stats().heap.usedBytes
    for (let i = 0; i < 50; i++) await sys.path_length!(`/file-${i}`)
    expect(fx.runtime.stats().heap.usedBytes).toBe(before)
  })
})
