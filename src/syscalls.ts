// SPDX-License-Identifier: MIT
/**
 * syscalls.ts - k.sys: one JS function per syscall of the kernel's table, marshalling
 * JS values into the kernel's argument block and back.
 *
 * The argument block is what the arch's syscall entry reads: the arguments in order,
 * 4 bytes each, 8 for a 64-bit scalar (low word first), packed. Pointer arguments
 * take a string (copied in, NUL-terminated), a Uint8Array (copied in, and copied
 * back out after the call unless the kernel's prototype says const; the buffers
 * of FILLED_BY_RESULT are only copied out, as many bytes as the call returns), a KernelBuffer
 * (k.alloc: passed by address, no copy), a number (a raw address: the kernel
 * accepts only the user arena's, any other is EFAULT) or null. Scalars take numbers
 * or bigints; an `unsigned long` also takes a Uint8Array or a KernelBuffer, passed
 * as its address, because that is how ioctl, fcntl and prctl carry pointers. A return in [-4095, -1] throws
 * LinuxError; anything else is the result. The generated Syscalls type
 * (src/generated/kernel-api.ts) states these rules per syscall.
 *
 * The block and the copies live in guest memory the runtime lends (GuestMemory):
 * this file never sees the wasm memory itself.
 */
import { LinuxError } from './errors.js'
import type { GuestMemory } from './host-ops/runtime.js'
import { KernelBuffer } from './kernel-buffer.js'
import type { SyscallInfo } from './kernel-data.js'

export type SyscallArgValue = number | bigint | string | Uint8Array | KernelBuffer | null | undefined
export type SyscallFn = (...args: SyscallArgValue[]) => Promise<number>

/** How k.sys reaches the kernel. */
export interface SyscallTarget {
  /** Where the argument block and the buffers are staged; KernelBuffers must come from it. */
  readonly memory: GuestMemory
  /** Throws when no call can be made (a stopped kernel): called first, so that is what the caller hears. */
  check(): void
  /**
   * Run syscall nr with the argument block at args, and then either finish with
   * its raw return or abandon it when the call ends without one (the kernel
   * stopped): finish's answer at once when the call did not block, else a
   * promise of it. One link, so a call that waits costs its caller one promise.
   */
  invoke<T>(nr: number, args: number, finish: (result: number) => T, abandon: () => void): T | Promise<T>
}

const MAX_ERRNO = 4095
const TWO_32 = 2 ** 32

/** A Uint8Array argument's bytes in guest memory, copied back into it after the call. */
interface Copy {
  at: number
  into: Uint8Array
  /** Only the first result bytes (a buffer of FILLED_BY_RESULT). */
  byResult: boolean
}

/**
 * Buffers the kernel only writes, and exactly as many bytes as the call returns
 * (by syscall, the argument's name): copying them in would be a wasted copy of
 * every byte read (4 ms of a 40 MiB tree's reads), and copying back only the
 * result's bytes leaves the rest of the caller's array as it was, as before.
 */
const FILLED_BY_RESULT: Readonly<Record<string, string>> = {
  read: 'buf', pread64: 'buf', getrandom: 'buf', readlinkat: 'buf', getdents64: 'dirent', recvfrom: 'ubuf',
}

/**
 * The bytes of text in UTF-8 as TextEncoder writes it (a lone surrogate becomes
 * U+FFFD, 3 bytes): what a string argument takes in guest memory, before its NUL.
 */
export function utf8Length(text: string): number {
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) continue
    if (unit < 0x800) {
      bytes += 1
    } else if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two units, 4 bytes.
      bytes += 2
      i++
    } else {
      bytes += 2
    }
  }
  return bytes
}

function align8(n: number): number {
  return (n + 7) & ~7
}

/** How an argument slot takes its value, decided once per syscall. */
const enum Slot {
  /** A scalar only. */
  Scalar,
  /** A pointer: string, bytes, KernelBuffer, address or null. */
  Pointer,
  /** A const pointer: bytes are copied in, never back. */
  ConstPointer,
  /** A buffer of FILLED_BY_RESULT: bytes are copied back up to the result, never in. */
  ResultPointer,
  /** An unsigned long, which also takes bytes by address (ioctl, fcntl, prctl). */
  Word,
}

/** Write a scalar into a 4- or 8-byte slot (two's complement, low word first). */
function setScalar(view: DataView, at: number, size: number, value: number | bigint): void {
  if (typeof value === 'bigint') {
    if (size === 8) view.setBigUint64(at, BigInt.asUintN(64, value), true)
    else view.setUint32(at, Number(BigInt.asUintN(32, value)), true)
    return
  }
  view.setUint32(at, value >>> 0, true)
  if (size === 8) view.setUint32(at + 4, Math.floor(value / TWO_32) >>> 0, true)
}

/**
 * One syscall as a JS function. With errnoNames, a -errno result throws
 * LinuxError; with null (the raw form), it is returned as it is.
 *
 * Per call it allocates the list of copies back, the promise it returns and what
 * the values need (a string's bytes): the slots are laid out in buffers of the
 * function's own, used only before the call, the block is a reused slab of the
 * arena, and a call that did not block is answered with one resolved promise.
 */
export function bindSyscall(
  syscall: SyscallInfo, target: SyscallTarget, errnoNames: ReadonlyMap<number, string> | null,
): SyscallFn {
  const args = syscall.args
  const blockSize = align8(args.reduce((n, a) => n + a.size, 0))
  const filled = FILLED_BY_RESULT[syscall.name]
  const kinds = args.map((a) => a.pointer ? (a.const ? Slot.ConstPointer : a.name === filled ? Slot.ResultPointer : Slot.Pointer)
    : a.type === 'unsigned long' ? Slot.Word : Slot.Scalar)
  const signature = `${syscall.name}(${args.map((a) => a.name).join(', ')})`
  const slots = new Uint8Array(blockSize)
  const view = new DataView(slots.buffer)
  const where = (i: number): string => `${syscall.name}: argument ${args[i]?.name} (${args[i]?.type})`

  /**
   * Per slot, what is copied in (bytes, or a string as UTF-8 and a NUL) and the room it takes,
   * or null when the value goes in the slot itself.
   */
  const staged: (Uint8Array | string | null)[] = args.map(() => null)
  const rooms: number[] = args.map(() => 0)

  /** The argument block for values, in guest memory; the caller frees it. */
  const stage = (values: readonly SyscallArgValue[], copies: Copy[]): number => {
    if (values.length > args.length) {
      throw new TypeError(`${signature} takes ${args.length} arguments, not ${values.length}`)
    }
    target.check()
    let dataSize = 0
    for (let i = 0; i < args.length; i++) {
      const value = values[i]
      const kind = kinds[i]
      const data = kind === Slot.Scalar ? null : value instanceof Uint8Array ? value
        : typeof value === 'string' && kind !== Slot.Word ? value : null
      staged[i] = data
      rooms[i] = data === null ? 0 : align8(typeof data === 'string' ? utf8Length(data) + 1 : data.length)
      dataSize += rooms[i] ?? 0
    }
    const block = target.memory.alloc(blockSize + dataSize, 8)
    if (block === 0) throw new RangeError(`${syscall.name}: no memory for ${blockSize + dataSize} bytes of arguments`)
    try {
      let slot = 0
      let at = block + blockSize
      for (let i = 0; i < args.length; i++) {
        const value = values[i]
        const size = args[i]?.size ?? 4
        const kind = kinds[i]
        const data = staged[i] ?? null
        staged[i] = null
        if (data !== null) {
          if (typeof data === 'string') {
            target.memory.writeString(at, data, rooms[i] ?? 0)
          } else {
            const byResult = kind === Slot.ResultPointer
            if (!byResult) target.memory.write(at, data)
            if (kind !== Slot.ConstPointer) copies.push({ at, into: data, byResult })
          }
          setScalar(view, slot, size, at)
          at += rooms[i] ?? 0
        } else if (value instanceof KernelBuffer && kind !== Slot.Scalar) {
          setScalar(view, slot, size, value.addressIn(target.memory, where(i)))
        } else if (typeof value === 'number') {
          if (!Number.isInteger(value)) throw new TypeError(`${where(i)} must be an integer, not ${value}`)
          setScalar(view, slot, size, value)
        } else if (typeof value === 'bigint') {
          setScalar(view, slot, size, value)
        } else if (value === undefined || (value === null && kind !== Slot.Scalar && kind !== Slot.Word)) {
          setScalar(view, slot, size, 0)
        } else {
          const what = value === null ? 'null' : value instanceof Uint8Array ? 'a Uint8Array'
            : value instanceof KernelBuffer ? 'a KernelBuffer' : `a ${typeof value}`
          throw new TypeError(`${where(i)} cannot take ${what}`)
        }
        slot += size
      }
      target.memory.write(block, slots)
      return block
    } catch (error) {
      staged.fill(null)
      target.memory.free(block)
      throw error
    }
  }

  /** The caller's answer from the raw return: buffers copied back, the block freed, -errno thrown. */
  const finish = (result: number, block: number, copies: readonly Copy[]): number => {
    try {
      for (const copy of copies) {
        if (!copy.byResult) target.memory.read(copy.at, copy.into)
        else if (result > 0) target.memory.read(copy.at, copy.into.subarray(0, Math.min(result, copy.into.length)))
      }
    } finally {
      target.memory.free(block)
    }
    if (errnoNames !== null && result < 0 && result >= -MAX_ERRNO) {
      throw new LinuxError(-result, errnoNames.get(-result) ?? `E${-result}`, syscall.name)
    }
    return result
  }

  const fn = (...values: SyscallArgValue[]): Promise<number> => {
    const copies: Copy[] = []
    let block = 0
    try {
      block = stage(values, copies)
    } catch (error) {
      if (block !== 0) target.memory.free(block)
      return Promise.reject(error)
    }
    try {
      const answer = target.invoke(syscall.nr, block, (result) => finish(result, block, copies), () => target.memory.free(block))
      return answer instanceof Promise ? answer : Promise.resolve(answer)
    } catch (error) {
      return Promise.reject(error)
    }
  }
  return Object.defineProperty(fn, 'name', { value: syscall.name })
}

/** k.sys for a syscall table: every entry, by its name. */
export function bindSyscalls(
  table: readonly SyscallInfo[], errno: Readonly<Record<string, number>>, target: SyscallTarget,
): Record<string, SyscallFn> {
  const errnoNames = new Map<number, string>()
  // The first name wins: EAGAIN over its alias EWOULDBLOCK.
  for (const [name, value] of Object.entries(errno)) if (!errnoNames.has(value)) errnoNames.set(value, name)
  const sys: Record<string, SyscallFn> = {}
  for (const syscall of table) {
    // Each is bound at its first call: a kernel, and each of its threads, has hundreds of syscalls and
    // uses a few, and binding them all took 8 ms. The object literal names the function.
    let bound: SyscallFn | null = null
    const named = {
      [syscall.name]: (...values: SyscallArgValue[]): Promise<number> =>
        (bound ??= bindSyscall(syscall, target, errnoNames))(...values),
    }
    sys[syscall.name] = named[syscall.name] as SyscallFn
  }
  return sys
}
