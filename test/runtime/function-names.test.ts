// SPDX-License-Identifier: MIT
// A module's function names moved out of its name section into a names file
// (scripts/wasm-names.ts) come back in the stacks of a failed runtime
// (src/host-ops/function-names.ts) exactly as V8 prints them for the module that
// kept its section: V8's own stack of the named module is the oracle.
import binaryen from 'binaryen'
import { describe, expect, it } from 'vitest'
import { splitNameSection } from '../../scripts/wasm-names.js'
import { FunctionNames } from '../../src/host-ops/function-names.js'

/** run() calls outer_fn → inner_fn, which calls the import host.observe and then traps. */
function trappingModule(): Uint8Array<ArrayBuffer> {
  const m = new binaryen.Module()
  try {
    m.addFunctionImport('observe', 'host', 'observe', binaryen.none, binaryen.none)
    m.addFunction('inner_fn', binaryen.none, binaryen.none, [],
      m.block(null, [m.call('observe', [], binaryen.none), m.unreachable()]))
    m.addFunction('outer_fn', binaryen.none, binaryen.none, [], m.call('inner_fn', [], binaryen.none))
    m.addFunctionExport('outer_fn', 'run')
    binaryen.setDebugInfo(true)
    return new Uint8Array(m.emitBinary())
  } finally {
    m.dispose()
  }
}

/** The trap of run(), and the error the import made while wasm frames were on the stack. */
async function failures(bytes: Uint8Array<ArrayBuffer>): Promise<{ trap: Error, fromImport: Error }> {
  let fromImport: Error | undefined
  const { instance } = await WebAssembly.instantiate(bytes, { host: { observe: () => { fromImport = new Error('observed') } } })
  try {
    (instance.exports.run as () => void)()
  } catch (trap) {
    if (!(trap instanceof Error) || fromImport === undefined) throw new Error('run() did not trap after calling observe')
    return { trap, fromImport }
  }
  throw new Error('run() did not trap')
}

/** The wasm frames of a stack, with the module's hash (which differs between the two modules) left out. */
function wasmFrames(error: Error): string[] {
  return (error.stack ?? '').split('\n').filter((line) => line.includes('wasm://'))
    .map((line) => line.trim().replace(/wasm:\/\/wasm\/[0-9a-f]+/, 'wasm://wasm/<hash>'))
}

describe('function names in a names file', () => {
  it('splitting removes the name section and lists every function by index', () => {
    const named = trappingModule()
    const { bytes, names } = splitNameSection(named)
    expect(WebAssembly.Module.customSections(new WebAssembly.Module(named), 'name')).toHaveLength(1)
    expect(WebAssembly.Module.customSections(new WebAssembly.Module(bytes), 'name')).toHaveLength(0)
    // Line 0 is the import, which binaryen leaves unnamed (V8 shows the JS function there anyway).
    expect(names).toBe('\ninner_fn\nouter_fn\n')
    expect(bytes.length).toBeLessThan(named.length)
  })

  it('a trap and an error made inside an import read as they do with the section', async () => {
    const named = trappingModule()
    const { bytes, names } = splitNameSection(named)
    const oracle = await failures(named)
    const stripped = await failures(bytes)
    // Without names V8 shows indices only; the check below would pass vacuously otherwise.
    expect(wasmFrames(stripped.trap).join('\n')).not.toMatch(/inner_fn|outer_fn/)
    const functionNames = new FunctionNames(names)
    const wrapper = new Error('the runtime failed', { cause: stripped.trap })
    functionNames.nameFrames(wrapper)
    functionNames.nameFrames(stripped.fromImport)
    expect(wasmFrames(stripped.trap)).toEqual(wasmFrames(oracle.trap))
    expect(wasmFrames(stripped.fromImport)).toEqual(wasmFrames(oracle.fromImport))
    expect(wasmFrames(oracle.trap)).toEqual([
      expect.stringMatching(/^at inner_fn \(wasm:\/\/wasm\/<hash>:wasm-function\[1\]:0x[0-9a-f]+\)$/),
      expect.stringMatching(/^at outer_fn \(wasm:\/\/wasm\/<hash>:wasm-function\[2\]:0x[0-9a-f]+\)$/),
    ])
  })

  it('frames already named and indices the file lacks stay as they are', async () => {
    const named = await failures(trappingModule())
    const before = named.trap.stack
    new FunctionNames('observe\nsomething_else\n').nameFrames(named.trap)
    expect(named.trap.stack).toBe(before)
    const stripped = await failures(splitNameSection(trappingModule()).bytes)
    new FunctionNames('observe\n').nameFrames(stripped.trap)
    expect(wasmFrames(stripped.trap)).toEqual([
      expect.stringMatching(/^at wasm:\/\/wasm\/<hash>:wasm-function\[1\]:/),
      expect.stringMatching(/^at wasm:\/\/wasm\/<hash>:wasm-function\[2\]:/),
    ])
  })
})
