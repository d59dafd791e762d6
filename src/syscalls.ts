// SPDX-License-Identifier: MIT
/**
 * syscalls.ts - k.sys: one JS function per syscall of the kernel's table, marshalling
 * JS values into the kernel's argument block and back.
 *
 * The argument block is what the arch's syscall entry reads: the arguments in order,
 * 4 bytes each, 8 for a 64-bit scalar (low word first), packed. Pointer arguments
 * take a string (copied in, NUL-terminated), a Uint8Array (copied in, and copied
 * back out after the call unless the kernel's prototype says const), a number (a
 * raw address: the kernel accepts only the user arena's, any other is EFAULT) or null. Scalars take numbers or bigints; an
 * `unsigned long` also takes a Uint8Array, passed as its address, because that is
 * how ioctl, fcntl and prctl carry pointers. A return in [-4095, -1] throws
 * LinuxError; anything else is the result. The generated Syscalls type
 * (src/generated/kernel-api.ts) states these rules per syscall.
 *
 * The block and the copies live in guest memory the runtime lends (GuestMemory):
 * this file never sees the wasm memory itself.
 */
import { LinuxError } from './errors.js'
import type { GuestMemory } from './host-ops/runtime.js'
import type { SyscallArg, SyscallInfo } from './kernel-data.js'

export type SyscallArgValue = number | bigint | string | Uint8Array | null | undefined
export type SyscallFn = (...args: SyscallArgValue[]) => Promise<number>

/** How k.sys reaches the kernel. */
export interface SyscallTarget {
  /** Where the argument block and the buffers are staged. */
  readonly memory: GuestMemory
  /** Run syscall nr with the argument block at args; resolves with its raw return. */
  invoke(nr: number, args: number): Promise<number>
}

const MAX_ERRNO = 4095
const encoder = new TextEncoder()

function align8(n: number): number {
  return (n + 7) & ~7
}

interface Staged {
  /** Bytes to copy into the scratch block at offset, or null for a scalar. */
  data: Uint8Array | null
  /** The caller's buffer to copy back into after the call. */
  copyBack: Uint8Array | null
  scalar: bigint
}

function stage(syscall: SyscallInfo, arg: SyscallArg, value: SyscallArgValue): Staged {
  const where = `${syscall.name}: argument ${arg.name} (${arg.type})`
  if (!arg.pointer && arg.type === 'unsigned long' && value instanceof Uint8Array) {
    return { data: value, copyBack: value, scalar: 0n }
  }
  if (arg.pointer) {
    if (typeof value === 'string') return { data: encoder.encode(`${value}\0`), copyBack: null, scalar: 0n }
    if (value instanceof Uint8Array) return { data: value, copyBack: arg.const ? null : value, scalar: 0n }
    if (value === null || value === undefined) return { data: null, copyBack: null, scalar: 0n }
  }
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`${where} must be an integer, not ${value}`)
    return { data: null, copyBack: null, scalar: BigInt(value) }
  }
  if (typeof value === 'bigint') return { data: null, copyBack: null, scalar: value }
  if (value === undefined) return { data: null, copyBack: null, scalar: 0n }
  const kind = value === null ? 'null' : value instanceof Uint8Array ? 'a Uint8Array' : `a ${typeof value}`
  throw new TypeError(`${where} cannot take ${kind}`)
}

/**
 * One syscall as a JS function. With errnoNames, a -errno result throws
 * LinuxError; with null (the raw form), it is returned as it is.
 */
export function bindSyscall(
  syscall: SyscallInfo, target: SyscallTarget, errnoNames: ReadonlyMap<number, string> | null,
): SyscallFn {
  const blockSize = align8(syscall.args.reduce((n, a) => n + a.size, 0))
  const signature = `${syscall.name}(${syscall.args.map((a) => a.name).join(', ')})`
  const fn = async (...values: SyscallArgValue[]): Promise<number> => {
    if (values.length > syscall.args.length) {
      throw new TypeError(`${signature} takes ${syscall.args.length} arguments, not ${values.length}`)
    }
    const staged = syscall.args.map((arg, i) => ({ arg, ...stage(syscall, arg, values[i]) }))
    const scratchSize = Math.max(blockSize + staged.reduce((n, s) => n + align8(s.data?.length ?? 0), 0), 8)
    const block = target.memory.alloc(scratchSize, 8)
    if (block === 0) throw new RangeError(`${syscall.name}: no memory for ${scratchSize} bytes of arguments`)
    try {
      // The block: slots first, then the data they point to. Only the slots are laid
      // out here; each buffer goes straight from the caller's bytes into guest memory.
      const slots = new Uint8Array(Math.max(blockSize, 8))
      const view = new DataView(slots.buffer)
      let slot = 0
      let data = blockSize
      const copies: { offset: number, into: Uint8Array }[] = []
      for (const s of staged) {
        let value = s.scalar
        if (s.data !== null) {
          target.memory.write(block + data, s.data)
          value = BigInt(block + data)
          if (s.copyBack !== null) copies.push({ offset: data, into: s.copyBack })
          data += align8(s.data.length)
        }
        if (s.arg.size === 8) view.setBigUint64(slot, BigInt.asUintN(64, value), true)
        else view.setUint32(slot, Number(BigInt.asUintN(32, value)), true)
        slot += s.arg.size
      }
      target.memory.write(block, slots)
      const result = await target.invoke(syscall.nr, block)
      for (const copy of copies) target.memory.read(block + copy.offset, copy.into)
      if (errnoNames !== null && result < 0 && result >= -MAX_ERRNO) {
        throw new LinuxError(-result, errnoNames.get(-result) ?? `E${-result}`, syscall.name)
      }
      return result
    } finally {
      target.memory.free(block)
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
  for (const syscall of table) sys[syscall.name] = bindSyscall(syscall, target, errnoNames)
  return sys
}
