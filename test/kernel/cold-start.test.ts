// SPDX-License-Identifier: MIT
// How the kernel is compiled for a fast first boot (src/kernel-compile.ts): 'deferred'
// raises V8's tiering budget for the compile only, and puts back the value the process
// was started with; 'v8' touches no flag; loadKernelImage keeps one image per tiering.
// The speed itself is bench/cold-start.ts's to show: nothing here is timed.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { loadKernelImage, startKernel } from '../../src/index.js'
import { DEFERRED_TIERING_BUDGET, compileKernel, tieringBudgetToRestore } from '../../src/kernel-compile.js'

/** The smallest valid module: the header alone. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
const RAISE = `--wasm-tiering-budget=${DEFERRED_TIERING_BUDGET}`
/** What this process puts back: null on a V8 whose default is unknown, where 'deferred' sets nothing. */
const restoreValue = tieringBudgetToRestore(process.execArgv, process.env.NODE_OPTIONS, process.versions.v8)
const RESTORE = `--wasm-tiering-budget=${restoreValue}`

afterEach(() => {
  vi.restoreAllMocks()
})

describe('the tiering budget put back after the compile', () => {
  it('is the command line\'s, NODE_OPTIONS last, in either of V8\'s forms', () => {
    expect(tieringBudgetToRestore(['--wasm-tiering-budget=5000'], undefined, '13.6.233')).toBe(5000)
    expect(tieringBudgetToRestore(['--wasm_tiering_budget', '7000'], undefined, '13.6.233')).toBe(7000)
    expect(tieringBudgetToRestore([], '--max-old-space-size=100 --wasm-tiering-budget=9000', '13.6.233')).toBe(9000)
    expect(tieringBudgetToRestore(['--wasm-tiering-budget=1'], '--wasm-tiering-budget=2', '11.3.244.8-node.38')).toBe(2)
    // A value V8 would refuse is no value.
    expect(tieringBudgetToRestore(['--wasm-tiering-budget=lots'], undefined, '13.6.233')).toBeNull()
  })

  it('is V8\'s default where it is known (through 12.4, and 14.6), else unknown', () => {
    expect(tieringBudgetToRestore(['--expose-gc'], undefined, '11.3.244.8-node.38')).toBe(1_800_000)
    expect(tieringBudgetToRestore([], '', '12.4.254.21-node.33')).toBe(1_800_000)
    expect(tieringBudgetToRestore([], undefined, '12.9.202.28-node.14')).toBeNull()
    expect(tieringBudgetToRestore([], undefined, '13.6.233.10-node.20')).toBeNull()
    expect(tieringBudgetToRestore([], undefined, '14.6.202.34-node.40')).toBe(13_000_000)
    expect(tieringBudgetToRestore([], undefined, '14.7.1')).toBeNull()
  })
})

describe('compileKernel', () => {
  it('\'deferred\' raises the budget before compiling and puts it back once the compile has settled', async () => {
    const flags = vi.spyOn(v8, 'setFlagsFromString')
    let finish: (module: WebAssembly.Module) => void = () => undefined
    vi.spyOn(WebAssembly, 'compile').mockImplementation(() => {
      // The raise comes before V8 starts on the bytes.
      expect(flags.mock.calls).toEqual(restoreValue === null ? [] : [[RAISE]])
      return new Promise((resolve) => { finish = resolve })
    })
    const compiled = compileKernel(EMPTY_MODULE, 'deferred')
    await new Promise((resolve) => setImmediate(resolve))
    // Still compiling: an asynchronous compile may create the module's code late.
    expect(flags.mock.calls).toEqual(restoreValue === null ? [] : [[RAISE]])
    finish(new WebAssembly.Module(EMPTY_MODULE))
    expect(await compiled).toBeInstanceOf(WebAssembly.Module)
    expect(flags.mock.calls).toEqual(restoreValue === null ? [] : [[RAISE], [RESTORE]])
  })

  it('\'deferred\' puts the budget back when the compile fails, and once for overlapping compiles', async () => {
    const flags = vi.spyOn(v8, 'setFlagsFromString')
    await expect(compileKernel(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x09]), 'deferred')).rejects.toBeInstanceOf(WebAssembly.CompileError)
    expect(flags.mock.calls).toEqual(restoreValue === null ? [] : [[RAISE], [RESTORE]])
    flags.mockClear()
    const both = await Promise.all([compileKernel(EMPTY_MODULE, 'deferred'), compileKernel(EMPTY_MODULE, 'deferred')])
    expect(both.every((m) => m instanceof WebAssembly.Module)).toBe(true)
    expect(flags.mock.calls).toEqual(restoreValue === null ? [] : [[RAISE], [RESTORE]])
  })

  it('\'v8\' sets no flag', async () => {
    const flags = vi.spyOn(v8, 'setFlagsFromString')
    expect(await compileKernel(EMPTY_MODULE, 'v8')).toBeInstanceOf(WebAssembly.Module)
    expect(flags).not.toHaveBeenCalled()
  })
})

describe('loadKernelImage\'s tiering option', () => {
  it('compiles the package\'s image once per tiering, the default being \'deferred\', and each boots', async () => {
    const flags = vi.spyOn(v8, 'setFlagsFromString')
    const own = await loadKernelImage(undefined, { tiering: 'v8' })
    expect(flags).not.toHaveBeenCalled()
    const deferred = await loadKernelImage()
    expect(flags.mock.calls).toEqual(restoreValue === null ? [] : [[RAISE], [RESTORE]])
    expect(deferred).not.toBe(own)
    expect(await loadKernelImage(undefined, { tiering: 'deferred' })).toBe(deferred)
    for (const image of [own, deferred]) {
      await using k = await startKernel({ image })
      expect(await k.sys.getpid()).toBe(1)
    }
  })

  it('loads the image in a process that compiles wasm eagerly (--no-wasm-lazy-compilation), which Node 26 would leave early', () => {
    const script = `import { loadKernelImage } from ${JSON.stringify(fileURLToPath(new URL('../../src/index.ts', import.meta.url)))}
await loadKernelImage()
console.log('loaded')`
    const child = spawnSync(process.execPath, ['--no-wasm-lazy-compilation', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 60_000 })
    expect(child.stderr).toBe('')
    expect(child.stdout.trim()).toBe('loaded')
    expect(child.status).toBe(0)
  })

  it('refuses a tiering it does not know', async () => {
    await expect(loadKernelImage(undefined, { tiering: 'turbofan' as 'v8' })).rejects.toThrow(
      /options.tiering must be 'deferred' or 'v8', not turbofan/)
  })
})
