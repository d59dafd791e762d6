// SPDX-License-Identifier: MIT
// k.halt(): it always settles, calls in flight end with KernelStoppedError (never
// a DeadlockError), and a kernel that does not shut down in time is stopped by force.
import { describe, expect, it } from 'vitest'
import type { KernelExport } from '../../src/generated/kernel-api.js'
import type { Runtime } from '../../src/host-ops/runtime.js'
import { DeadlockError, Kernel, KernelStoppedError, loadKernelImage, startKernel } from '../../src/index.js'

/** Two int32 fds of a pipe2 call. */
function fds(bytes: Uint8Array): [number, number] {
  const view = new DataView(bytes.buffer)
  return [view.getInt32(0, true), view.getInt32(4, true)]
}

describe('halt', () => {
  it('a read blocked on a pipe at halt rejects with KernelStoppedError; halt resolves with 0', async () => {
    const k = await startKernel()
    const pipe = new Uint8Array(8)
    await k.sys.pipe2(pipe, 0)
    const [rd] = fds(pipe)
    const reader = await k.thread()
    const reading = reader.sys.read(rd, new Uint8Array(16), 16).then(() => 'returned', (e: unknown) => e)
    // The reader is in the kernel, blocked, before the halt starts: one more round trip proves it.
    expect(await k.sys.getpid()).toBe(1)
    expect(await k.halt()).toBe(0)
    const outcome = await reading
    expect(outcome).toBeInstanceOf(KernelStoppedError)
    expect(outcome).not.toBeInstanceOf(DeadlockError)
    expect(String(outcome)).toMatch(/halted while this call was in flight/)
    await expect(k.sys.getpid()).rejects.toBeInstanceOf(KernelStoppedError)
    expect(k.stats().liveFibers).toBe(0)
  })

  it('a kernel that cannot halt within the bound is stopped by force, and says so', async () => {
    // A wedged kernel: a runtime whose kernel_halt never returns (its CPU never comes free).
    const closed: Error[] = []
    const never = new Promise<never>(() => undefined)
    const wedged: Runtime<KernelExport> = {
      call: () => never,
      createWorker: () => null,
      plugDevice: () => never,
      userMemory: { alloc: () => 0, free: () => undefined, write: () => undefined, writeString: () => undefined, read: () => undefined, view: () => new Uint8Array(0) },
      console: { text: () => '', tail: () => '' },
      snapshot: () => { throw new Error('a wedged runtime is never saved') },
      release: () => undefined,
      stats: () => ({
        liveFibers: 0, heap: { usedBytes: 0, peakBytes: 0, liveBlocks: 0, memoryBytes: 0 }, bufferHighWater: new Map(), userMemory: null,
      }),
      failure: null,
      fibers: 'asyncify',
      fail: () => undefined,
      beginStop: () => undefined,
      close: (reason) => { closed.push(reason) },
    }
    const k = new Kernel(wedged, await loadKernelImage())
    const halting = k.halt({ timeoutMs: 50 })
    await expect(halting).rejects.toThrow(/did not halt within 50 ms; it was stopped by force/)
    await expect(halting).rejects.toBeInstanceOf(KernelStoppedError)
    // The runtime was ended with that error, so calls in flight got it too.
    expect(closed).toHaveLength(1)
    expect(closed[0]).toBeInstanceOf(KernelStoppedError)
    await expect(k.sys.getpid()).rejects.toBeInstanceOf(KernelStoppedError)
  })

  it('halting a halted kernel rejects at once', async () => {
    const k = await startKernel()
    await k.halt()
    await expect(k.halt()).rejects.toBeInstanceOf(KernelStoppedError)
  })
})
