// SPDX-License-Identifier: MIT
// Entropy: the crng is seeded at boot from the host, so getrandom and /dev/{u,}random answer at once
// with full-length, non-repeating bytes; a seed makes getrandom and /dev/{u,}random reproducible
// across kernels.
import { describe, expect, it } from 'vitest'
import { type Kernel, startKernel } from '../../src/index.js'

const GRND_NONBLOCK = 1
const GRND_RANDOM = 2
const GRND_INSECURE = 4

/**
 * A call that never settles must fail the test with its name instead of running into
 * vitest's timeout; the bound is far beyond any machine's time for one syscall.
 */
async function settles<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within 30 s: it blocked`)), 30_000)
  })
  try {
    return await Promise.race([promise, hang])
  } finally {
    clearTimeout(timer)
  }
}

async function getrandom(k: Kernel, length: number, flags = 0): Promise<Uint8Array> {
  const buf = new Uint8Array(length)
  expect(await settles(`getrandom(${length}, ${flags})`, k.sys.getrandom(buf, length, flags))).toBe(length)
  return buf
}

async function readDevice(k: Kernel, path: string, length: number): Promise<Uint8Array> {
  const fd = await k.sys.openat(k.constants.AT_FDCWD, path, k.constants.O_RDONLY, 0)
  const buf = new Uint8Array(length)
  expect(await settles(`read of ${path}`, k.sys.read(fd, buf, length))).toBe(length)
  await k.sys.close(fd)
  return buf
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('the crng is seeded at boot', () => {
  it('getrandom returns the full length at once, blocking or not', async () => {
    await using k = await startKernel()
    const first = await getrandom(k, 14)
    const nonblocking = await getrandom(k, 64, GRND_NONBLOCK)
    const large = await getrandom(k, 100_000)
    expect(hex(first)).not.toBe(hex(new Uint8Array(14)))
    expect(hex(nonblocking.subarray(0, 14))).not.toBe(hex(first))
    // A byte value missing from 100 000 random bytes has odds of about 256 * e^-390.
    expect(new Set(large).size).toBe(256)
    expect(await k.sys.getpid()).toBe(1)
  })

  it('/dev/urandom and /dev/random are readable at once', async () => {
    await using k = await startKernel()
    await k.mountFs('devtmpfs', { target: '/dev' })
    const urandom = await readDevice(k, '/dev/urandom', 32)
    const random = await readDevice(k, '/dev/random', 32)
    expect(hex(urandom)).not.toBe(hex(random))
    expect(hex(urandom)).not.toBe(hex(new Uint8Array(32)))
  })

  it('two unseeded kernels draw different bytes', async () => {
    await using a = await startKernel()
    await using b = await startKernel()
    expect(hex(await getrandom(a, 32))).not.toBe(hex(await getrandom(b, 32)))
  })

  it('getrandom checks its flags and its buffer like Linux', async () => {
    await using k = await startKernel()
    const getrandomNr = k.syscalls.find((s) => s.name === 'getrandom')?.nr ?? -1
    expect(await k.syscall(getrandomNr, new Uint8Array(8), 8, 0x80)).toBe(-22) // EINVAL
    expect(await k.syscall(getrandomNr, new Uint8Array(8), 8, GRND_INSECURE | GRND_RANDOM)).toBe(-22)
    expect(await k.syscall(getrandomNr, 0, 8, 0)).toBe(-14) // EFAULT
  })
})

describe('a seed makes what callers read reproducible', () => {
  async function draws(seed: number | bigint | Uint8Array): Promise<string[]> {
    await using k = await startKernel({ seed })
    return [hex(await getrandom(k, 14)), hex(await getrandom(k, 100)), hex(await getrandom(k, 5000, GRND_NONBLOCK))]
  }

  it('getrandom: the same seed gives the same bytes in two kernels; other seeds give others', async () => {
    const first = await draws(42)
    expect(await draws(42)).toEqual(first)
    expect(await draws(42n), 'a bigint seed equal to the number').toEqual(first)
    const other = await draws(43)
    for (const [i, bytes] of other.entries()) expect(bytes, `draw ${i} with seed 43`).not.toBe(first[i])
    const fromBytes = await draws(new Uint8Array([42]))
    expect(fromBytes[0], 'a byte-string seed').not.toBe(first[0])
    expect(await draws(new Uint8Array([42]))).toEqual(fromBytes)
  })

  it('and /dev/urandom and /dev/random, drawn from the same stream', async () => {
    const deviceDraws = async (seed: number): Promise<string[]> => {
      await using k = await startKernel({ seed })
      await k.mountFs('devtmpfs', { target: '/dev' })
      return [
        hex(await readDevice(k, '/dev/urandom', 32)), hex(await readDevice(k, '/dev/random', 100)),
        hex(await getrandom(k, 16)), hex(await readDevice(k, '/dev/urandom', 5000)),
      ]
    }
    const first = await deviceDraws(42)
    expect(await deviceDraws(42)).toEqual(first)
    expect(new Set(first).size, 'four different draws').toBe(4)
    const other = await deviceDraws(43)
    for (const [i, bytes] of other.entries()) expect(bytes, `draw ${i} with seed 43`).not.toBe(first[i])
  })

  it('a seeded getrandom still checks its flags and its buffer', async () => {
    await using k = await startKernel({ seed: 7 })
    const getrandomNr = k.syscalls.find((s) => s.name === 'getrandom')?.nr ?? -1
    expect(await k.syscall(getrandomNr, new Uint8Array(8), 8, 0x80)).toBe(-22)
    expect(await k.syscall(getrandomNr, 0, 8, 0)).toBe(-14)
    expect(await k.syscall(getrandomNr, new Uint8Array(8), 0, 0)).toBe(0)
  })

  it('a seed that is not an integer, bigint or byte string is a TypeError', async () => {
    await expect(startKernel({ seed: 1.5 })).rejects.toThrow(TypeError)
  })
})
