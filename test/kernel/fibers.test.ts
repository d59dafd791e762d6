// SPDX-License-Identifier: MIT
// Which fiber backend a kernel runs on: JSPI where the runtime has it (Node 26), asyncify
// everywhere else or when asked; and what each can do that the other cannot.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { UklklError, kernelPipe, loadKernelImage, startKernel } from '../../src/index.js'
import { hasJspi, instantiate } from '../../src/host-ops/index.js'
import { memoryPool } from '../../src/host-ops/memory-pool.js'
import { importedMemory } from '../../src/kernel-compile.js'

/** Write bytes into a new pipe of k and read them back through the kernel. */
async function echo(k: Awaited<ReturnType<typeof startKernel>>, text: string): Promise<string> {
  const { read: { kernelFd: rd }, write: { kernelFd: wr } } = await kernelPipe(k.sys)
  const reader = await k.thread()
  // The read blocks first: its thread waits in the kernel until the write wakes it.
  const buf = new Uint8Array(64)
  const reading = reader.sys.read(rd, buf, buf.length)
  await k.sys.write(wr, new TextEncoder().encode(text), text.length)
  const n = await reading
  await reader.exit()
  await k.sys.close(rd)
  await k.sys.close(wr)
  return new TextDecoder().decode(buf.subarray(0, n))
}

describe.runIf(hasJspi())('fiber backends, on a runtime with JSPI', () => {
  it('startKernel runs the JSPI build by default; it boots every time, and cannot be saved', async () => {
    const first = await startKernel({ memoryMiB: 36 })
    const second = await startKernel({ memoryMiB: 36 })
    try {
      expect(first.image.fibers).toBe('jspi')
      expect(second.restored, 'no boot snapshot of a JSPI kernel').toBe(false)
      expect(await echo(first, 'through a JSPI kernel')).toBe('through a JSPI kernel')
      expect(await second.sys.getpid()).toBe(1)
    } finally {
      await first.halt()
      await second.halt()
    }
  })

  it('fibers: \'asyncify\' runs the asyncify build beside a JSPI kernel, in one process', async () => {
    const jspi = await startKernel({ memoryMiB: 36 })
    const asyncify = await startKernel({ memoryMiB: 36, fibers: 'asyncify' })
    try {
      expect(asyncify.image.fibers).toBe('asyncify')
      const [a, b] = await Promise.all([echo(jspi, 'one'), echo(asyncify, 'two')])
      expect([a, b]).toEqual(['one', 'two'])
    } finally {
      await jspi.halt()
      await asyncify.halt()
    }
  })

  it('a released JSPI runtime keeps no memory for a next kernel (only a restore would take it, and JSPI never restores)', async () => {
    const bytes = readFileSync(new URL('../../build/lkl-jspi.wasm', import.meta.url))
    const module = new WebAssembly.Module(bytes)
    const memoryLimits = importedMemory(bytes)
    if (memoryLimits === null) throw new Error('the JSPI image imports no memory')
    const runtime = await instantiate(module, { memoryLimits, userMemoryBytes: 16 << 20 })
    expect(runtime.fibers).toBe('jspi')
    const cmdline = new TextEncoder().encode('mem=32M\0')
    const arg = runtime.userMemory.alloc(cmdline.length)
    runtime.userMemory.write(arg, cmdline)
    expect(await runtime.call('kernel_start', [arg])).toBe(0)
    expect(() => runtime.snapshot()).toThrow(/JSPI cannot be saved/)
    runtime.close(new Error('closed by the test'))
    runtime.release()
    expect(memoryPool(module, memoryLimits).take(true).used).toBe(false)
  })

  it('an image and a fibers option that disagree are a TypeError', async () => {
    const image = await loadKernelImage(undefined, { fibers: 'asyncify' })
    await expect(startKernel({ image, fibers: 'jspi' })).rejects.toThrow(TypeError)
    await expect(loadKernelImage(undefined, { fibers: 'wasm' as never })).rejects.toThrow(/must be 'asyncify' or 'jspi'/)
  })
})

describe.runIf(!hasJspi())('fiber backends, on a runtime without JSPI', () => {
  it('startKernel runs the asyncify build; asking for JSPI is an error that names the Node that has it', async () => {
    const k = await startKernel({ memoryMiB: 36 })
    try {
      expect(k.image.fibers).toBe('asyncify')
      expect(await echo(k, 'through an asyncify kernel')).toBe('through an asyncify kernel')
    } finally {
      await k.halt()
    }
    const refused = await startKernel({ fibers: 'jspi' }).then(() => null, (error: unknown) => error)
    expect(refused).toBeInstanceOf(UklklError)
    expect((refused as Error).message).toMatch(/Node 26/)
  })
})
