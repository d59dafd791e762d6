// SPDX-License-Identifier: MIT
/**
 * kernel-data.ts - the shape of the data the kernel build generates for the API
 * (wasm/api-data.ts writes it next to lkl.wasm; the API reads it at startKernel).
 */

export interface SyscallArg {
  name: string
  /** The C type as the prototype spells it, without __user. */
  type: string
  /** Bytes it takes in the argument block: 8 for 64-bit scalars, else 4. */
  size: 4 | 8
  pointer: boolean
  /** A pointer to const: the kernel only reads through it. */
  const: boolean
}

export interface SyscallInfo {
  nr: number
  name: string
  /** The kernel function behind it, e.g. sys_openat. */
  entry: string
  args: SyscallArg[]
}

export interface FieldLayout {
  offset: number
  /** Bytes; 0 for a flexible array member. */
  size: number
  /** 'i'/'u': a signed or unsigned integer; 'bytes': an array or a nested struct. */
  kind: 'i' | 'u' | 'bytes'
}

export interface StructLayout {
  size: number
  fields: Record<string, FieldLayout>
}

export interface KernelData {
  kernelVersion: string
  /** The functions the image exports for the host, from the host-ops.h it was built with. */
  exports: string[]
  syscalls: SyscallInfo[]
  errno: Record<string, number>
  /** What each errno name means, as the kernel's uapi comment says it (strerror's text). */
  errnoText: Record<string, string>
  constants: Record<string, number>
  structs: Record<string, StructLayout>
}
