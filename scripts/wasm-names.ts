// SPDX-License-Identifier: MIT
/**
 * wasm-names.ts - take the function names out of a module's name section, for a
 * names file shipped beside the module (src/host-ops/function-names.ts reads it).
 *
 * The names come from the emitted binary itself, so line N of the file is function
 * N of the module's index space (imports first) by construction, whatever order
 * binaryen keeps its functions in. The whole "name" custom section goes (local and
 * global names too); V8 then names a frame `wasm-function[N]`, which the runtime
 * maps back when it reports a failure.
 *
 * Limits: reads only the section layout and the function-name subsection (id 1);
 * a name containing a line break would break the one-name-a-line format (C
 * identifiers and binaryen's generated names never do, and it is checked).
 */

/** An unsigned LEB128 at offset: its value and the offset after it. */
function uleb(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0
  let scale = 1
  let at = offset
  for (;;) {
    const byte = bytes[at++]
    if (byte === undefined) throw new Error(`wasm-names: truncated LEB128 at ${offset}`)
    value += (byte & 0x7f) * scale
    if (byte < 0x80) return [value, at]
    scale *= 128
  }
}

export interface SplitNames {
  /** The module without its name section. */
  bytes: Uint8Array<ArrayBuffer>
  /** The names file: one line per function index, empty where the function has no name. */
  names: string
}

/** Remove the "name" custom section of a module and return its function names as a names file. */
export function splitNameSection(module: Uint8Array): SplitNames {
  const decoder = new TextDecoder()
  const names: string[] = []
  const kept: Uint8Array[] = [module.subarray(0, 8)]
  let found = false
  for (let at = 8; at < module.length;) {
    const id = module[at]
    const [size, body] = uleb(module, at + 1)
    const end = body + size
    let isNames = false
    if (id === 0) {
      const [length, nameStart] = uleb(module, body)
      isNames = decoder.decode(module.subarray(nameStart, nameStart + length)) === 'name'
      for (let sub = nameStart + length; isNames && sub < end;) {
        const subId = module[sub]
        const [subSize, subBody] = uleb(module, sub + 1)
        if (subId === 1) {
          let [count, entry] = uleb(module, subBody)
          for (; count > 0; count--) {
            const [index, afterIndex] = uleb(module, entry)
            const [nameLength, nameAt] = uleb(module, afterIndex)
            const name = decoder.decode(module.subarray(nameAt, nameAt + nameLength))
            if (/[\r\n]/.test(name)) throw new Error(`wasm-names: function ${index} has a line break in its name`)
            names[index] = name
            entry = nameAt + nameLength
          }
        }
        sub = subBody + subSize
      }
    }
    if (isNames) found = true
    else kept.push(module.subarray(at, end))
    at = end
  }
  if (!found) throw new Error('wasm-names: the module has no name section (emit it with binaryen.setDebugInfo(true))')
  const bytes = new Uint8Array(kept.reduce((n, part) => n + part.length, 0))
  let offset = 0
  for (const part of kept) {
    bytes.set(part, offset)
    offset += part.length
  }
  return { bytes, names: `${Array.from(names, (name) => name ?? '').join('\n')}\n` }
}
