// SPDX-License-Identifier: MIT
// The kernel image ships its function names in lkl.names, not in lkl.wasm's name section
// (scripts/wasm-names.ts); the error that stops a kernel still names the kernel's frames, as V8
// would with the section. A real panic (ramfs filling all memory, as in host-ops.test.ts) is
// the failure: its stack runs through the kernel's panic().
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { PanicError, startKernel } from '../../src/index.js'
import { panicByFillingRam } from '../support/panic.js'

describe('kernel function names', () => {
  it('lkl.wasm has no name section, and a panic\'s stack names the kernel functions from lkl.names', async () => {
    const image = new WebAssembly.Module(readFileSync(new URL('../../build/lkl.wasm', import.meta.url)))
    expect(WebAssembly.Module.customSections(image, 'name')).toHaveLength(0)

    const k = await startKernel({ memoryMiB: 8 })
    const outcome = await panicByFillingRam(k)
    expect(outcome).toBeInstanceOf(PanicError)
    const frames = ((outcome as PanicError).stack ?? '').split('\n').filter((line) => line.includes('wasm://'))
    expect(frames.length).toBeGreaterThan(0)
    // Every wasm frame is named, in V8's form for a module with names.
    for (const frame of frames) expect(frame.trim()).toMatch(/^at [\w.$]+ \(wasm:\/\/wasm\/[0-9a-f]+:wasm-function\[\d+\]:0x[0-9a-f]+\)$/)
    expect(frames.join('\n')).toMatch(/at panic \(/)
  })
})
