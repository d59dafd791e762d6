// SPDX-License-Identifier: MIT
// The limits of the memory a module imports, read from its bytes, against what V8 itself accepts.
import { describe, expect, it } from 'vitest'
import { MemoryPool } from '../src/host-ops/memory-pool.js'
import { importedMemory } from '../src/kernel-compile.js'

/** A module importing a function host.f and the memory env.memory with limits (3, 300). */
const IMPORTS_MEMORY = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x00, 0x05, 0x04, 0x6e, 0x61, 0x6d, 0x65, // a custom section first: "name", empty
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
  0x02, 0x1a, 0x02, // import section: 2 imports
  0x04, 0x68, 0x6f, 0x73, 0x74, 0x01, 0x66, 0x00, 0x00, // "host" "f": function of type 0
  0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x01, 0x03, 0xac, 0x02, // "env" "memory": min 3, max 300
])

describe('importedMemory', () => {
  it('reads the imported memory\'s limits past other sections and imports; null when there is none', async () => {
    const module = new WebAssembly.Module(IMPORTS_MEMORY)
    expect(WebAssembly.Module.imports(module).map((i) => i.kind)).toEqual(['function', 'memory'])
    expect(importedMemory(IMPORTS_MEMORY)).toEqual({ initial: 3, maximum: 300 })
    // V8 agrees: a memory of 2 pages is too small for it, one of the limits is not.
    const f = (): void => undefined
    await expect(WebAssembly.instantiate(module, { host: { f }, env: { memory: new WebAssembly.Memory({ initial: 2, maximum: 300 }) } }))
      .rejects.toThrow(WebAssembly.LinkError)
    await WebAssembly.instantiate(module, { host: { f }, env: { memory: new WebAssembly.Memory({ initial: 3, maximum: 300 }) } })
    expect(importedMemory(IMPORTS_MEMORY.slice(0, 8 + 7 + 6))).toBeNull()
  })
})

describe('MemoryPool', () => {
  it('gives a kept memory only to a kernel loaded from a snapshot, with the module\'s initial pages zeroed and lent views detached', () => {
    const pool = new MemoryPool({ initial: 2, maximum: undefined })
    const fresh = pool.take(true)
    expect(fresh.used).toBe(false)
    expect(fresh.memory.buffer.byteLength).toBe(2 * 65536)
    fresh.memory.grow(2)
    const view = new Uint8Array(fresh.memory.buffer)
    view.fill(0xff)
    pool.give(fresh.memory, { detach: true })
    expect(view.length).toBe(0)
    // A boot gets a new memory: it expects zeros everywhere.
    expect(pool.take(false).used).toBe(false)
    const kept = pool.take(true)
    expect(kept).toEqual({ memory: fresh.memory, used: true })
    const bytes = new Uint8Array(kept.memory.buffer)
    expect(bytes.subarray(0, 2 * 65536).every((b) => b === 0)).toBe(true)
    // Past the module's initial pages, the snapshot's load decides what is zeroed.
    expect(bytes[2 * 65536]).toBe(0xff)
    expect(pool.take(true).used).toBe(false)
  })

  it('keeps a memory whose views only its runtime held as it is: its buffer is not replaced', () => {
    const pool = new MemoryPool({ initial: 1, maximum: undefined })
    const { memory } = pool.take(true)
    const buffer = memory.buffer
    pool.give(memory, { detach: false })
    expect(pool.take(true)).toEqual({ memory, used: true })
    expect(memory.buffer).toBe(buffer)
  })
})
