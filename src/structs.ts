// SPDX-License-Identifier: MIT
/**
 * structs.ts - reading and writing the kernel's structs in JS, by the layouts the
 * kernel build measured (src/kernel-data.ts), little-endian like wasm.
 *
 * 8-byte integers are bigints, narrower ones numbers; arrays and nested structs are
 * Uint8Array views (decode them with their own layout). A flexible array member is
 * the rest of the buffer. Which fields a struct has, with which JS type, is in the
 * generated Structs type; fieldReader checks each field it reads against the layout,
 * so a kernel image whose layouts disagree with the types fails loudly, not wrongly.
 */
import type { FieldLayout, StructLayout } from './kernel-data.js'

export type FieldValue = number | bigint | Uint8Array

/** Reads one struct's fields; each throws if the layout does not hold that field with that JS type. */
export interface FieldReader {
  number(field: string): number
  bigint(field: string): bigint
  bytes(field: string): Uint8Array
}

export function fieldReader(name: string, layout: StructLayout, bytes: Uint8Array, offset = 0): FieldReader {
  if (!Number.isInteger(offset) || offset < 0 || offset + layout.size > bytes.length) {
    throw new RangeError(`a ${layout.size}-byte struct ${name} does not fit at offset ${offset} of ${bytes.length} bytes`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset)
  const lookup = (field: string, want: string, fits: (f: FieldLayout) => boolean): FieldLayout => {
    const f = layout.fields[field]
    if (f === undefined || !fits(f)) {
      throw new TypeError(`struct ${name} of this kernel image has no ${want} field ${field}: the image and the API types come from different builds`)
    }
    return f
  }
  return {
    number(field) {
      const f = lookup(field, 'integer (up to 4 bytes)', (l) => l.kind !== 'bytes' && l.size <= 4)
      if (f.size === 4) return f.kind === 'i' ? view.getInt32(f.offset, true) : view.getUint32(f.offset, true)
      if (f.size === 2) return f.kind === 'i' ? view.getInt16(f.offset, true) : view.getUint16(f.offset, true)
      return f.kind === 'i' ? view.getInt8(f.offset) : view.getUint8(f.offset)
    },
    bigint(field) {
      const f = lookup(field, '8-byte integer', (l) => l.kind !== 'bytes' && l.size === 8)
      return f.kind === 'i' ? view.getBigInt64(f.offset, true) : view.getBigUint64(f.offset, true)
    },
    bytes(field) {
      const f = lookup(field, 'array or struct', (l) => l.kind === 'bytes')
      const end = f.size === 0 ? bytes.length - offset : f.offset + f.size
      return bytes.subarray(offset + f.offset, offset + end)
    },
  }
}

/**
 * Set the given fields in into (by default a new zeroed struct) and return it;
 * unknown field names throw.
 */
export function encodeStruct(
  layout: StructLayout, values: Readonly<Record<string, FieldValue | undefined>>, into: Uint8Array = new Uint8Array(layout.size),
): Uint8Array {
  if (into.length < layout.size) throw new RangeError(`a ${layout.size}-byte struct does not fit in ${into.length} bytes`)
  const bytes = into
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue
    const f = layout.fields[name]
    if (f === undefined) throw new TypeError(`no field ${name} in this struct (fields: ${Object.keys(layout.fields).join(', ')})`)
    if (value instanceof Uint8Array) {
      if (f.kind !== 'bytes' || value.length > f.size) throw new TypeError(`field ${name} takes at most ${f.size} bytes`)
      bytes.set(value, f.offset)
    } else if (f.kind === 'bytes') {
      throw new TypeError(`field ${name} is ${f.size} bytes of an array or struct; pass a Uint8Array`)
    } else if (f.size === 8) {
      view.setBigUint64(f.offset, BigInt.asUintN(64, BigInt(value)), true)
    } else {
      const n = Number(value)
      if (f.size === 4) view.setUint32(f.offset, n >>> 0, true)
      else if (f.size === 2) view.setUint16(f.offset, n & 0xffff, true)
      else view.setUint8(f.offset, n & 0xff)
    }
  }
  return bytes
}
