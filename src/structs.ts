// SPDX-License-Identifier: MIT
/**
 * structs.ts - reading and writing the kernel's structs in JS, by the layouts the
 * kernel build measured (src/kernel-data.ts), little-endian like wasm.
 *
 * 8-byte integers are bigints, narrower ones numbers; arrays and nested structs are
 * Uint8Array views (decode them with their own layout). A flexible array member is
 * the rest of the buffer.
 */
import type { StructLayout } from './kernel-data.js'

export type FieldValue = number | bigint | Uint8Array

export function decodeStruct(layout: StructLayout, bytes: Uint8Array, offset = 0): Record<string, FieldValue> {
  if (offset + layout.size > bytes.length) {
    throw new RangeError(`a ${layout.size}-byte struct does not fit at offset ${offset} of ${bytes.length} bytes`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset)
  const out: Record<string, FieldValue> = {}
  for (const [name, f] of Object.entries(layout.fields)) {
    if (f.kind === 'bytes') {
      const end = f.size === 0 ? bytes.length - offset : f.offset + f.size
      out[name] = bytes.subarray(offset + f.offset, offset + end)
    } else if (f.size === 8) {
      out[name] = f.kind === 'i' ? view.getBigInt64(f.offset, true) : view.getBigUint64(f.offset, true)
    } else if (f.size === 4) {
      out[name] = f.kind === 'i' ? view.getInt32(f.offset, true) : view.getUint32(f.offset, true)
    } else if (f.size === 2) {
      out[name] = f.kind === 'i' ? view.getInt16(f.offset, true) : view.getUint16(f.offset, true)
    } else {
      out[name] = f.kind === 'i' ? view.getInt8(f.offset) : view.getUint8(f.offset)
    }
  }
  return out
}

/**
 * Set the given fields in into (by default a new zeroed struct) and return it;
 * unknown field names throw.
 */
export function encodeStruct(
  layout: StructLayout, values: Record<string, FieldValue>, into: Uint8Array = new Uint8Array(layout.size),
): Uint8Array {
  if (into.length < layout.size) throw new RangeError(`a ${layout.size}-byte struct does not fit in ${into.length} bytes`)
  const bytes = into
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  for (const [name, value] of Object.entries(values)) {
    const f = layout.fields[name]
    if (f === undefined) throw new TypeError(`no field ${name} in this struct (fields: ${Object.keys(layout.fields).join(', ')})`)
    if (value instanceof Uint8Array) {
      if (f.kind !== 'bytes' || value.length > f.size) throw new TypeError(`field ${name} takes at most ${f.size} bytes`)
      bytes.set(value, f.offset)
    } else if (f.size === 8) {
      view.setBigUint64(f.offset, BigInt.asUintN(64, BigInt(value)), true)
    } else {
      const n = Number(value)
      if (f.size === 4) view.setUint32(f.offset, n >>> 0, true)
      else if (f.size === 2) view.setUint16(f.offset, n & 0xffff, true)
      else if (f.size === 1) view.setUint8(f.offset, n & 0xff)
      else throw new TypeError(`field ${name} is ${f.size} bytes of ${f.kind}; pass a Uint8Array`)
    }
  }
  return bytes
}
