// SPDX-License-Identifier: MIT
// 64 syscalls blocked at once (one pipe read per host thread), released by writes in another order:
// each read ends with its own pipe's data. The figures over many cycles are bench/soak.ts's.
import { describe, expect, it } from 'vitest'
import { type Kernel, type KernelThread, startKernel } from '../../src/index.js'

const THREADS = 64

async function pipe(k: Kernel): Promise<[number, number]> {
  const fds = new Uint8Array(8)
  await k.sys.pipe2(fds, 0)
  const view = new DataView(fds.buffer)
  return [view.getInt32(0, true), view.getInt32(4, true)]
}

describe('many blocking syscalls at once', () => {
  it(`${THREADS} threads blocked in pipe reads all wake with their own pipe's data`, async () => {
    await using k = await startKernel()
    const readers = await Promise.all(Array.from({ length: THREADS }, async (_, i) => {
      const [rd, wr] = await pipe(k)
      const thread: KernelThread = await k.thread()
      return { i, rd, wr, thread, buffer: new Uint8Array(32) }
    }))
    const done = new Set<number>()
    const reads = readers.map(async ({ i, rd, thread, buffer }) => {
      const n = await thread.sys.read(rd, buffer, buffer.length)
      done.add(i)
      return new TextDecoder().decode(buffer.subarray(0, n))
    })
    // Every thread has entered its read once a later call has been served: the kernel takes them in turn.
    expect(await k.sys.getpid()).toBe(1)
    expect([...done], 'reads that returned before any write').toEqual([])

    for (const { i, wr } of [...readers].reverse()) {
      const message = new TextEncoder().encode(`message for reader ${i}`)
      expect(await k.sys.write(wr, message, message.length)).toBe(message.length)
    }
    expect(await Promise.all(reads)).toEqual(readers.map(({ i }) => `message for reader ${i}`))

    await Promise.all(readers.map(({ thread }) => thread.exit()))
    for (const { rd, wr } of readers) {
      await k.sys.close(rd)
      await k.sys.close(wr)
    }
    expect(await k.halt()).toBe(0)
    expect(k.stats().liveFibers, 'fibers left after halt').toBe(0)
  })
})
