// SPDX-License-Identifier: MIT
/**
 * raw-io.ts - the bulk data path of kernel sockets: read and send through a
 * block of the user arena that the kernel reads or writes directly, so a read
 * costs one copy out (into a buffer of exactly the bytes read) and a send one
 * copy in. k.sys would stage a whole buffer both ways for a read (copy in,
 * copy back) and allocate a scratch copy each time, which at hundreds of MB/s
 * is most of the host's work.
 *
 * Errors are LinuxErrors as k.sys throws them (code, errno, syscall).
 *
 * Limits: each call holds its block of the user arena while it blocks in the
 * kernel (at most the size asked for).
 */
import { LinuxError } from '../errors.js'
import type { GuestMemory } from '../host-ops/runtime.js'
import type { SyscallInfo } from '../kernel-data.js'

const MAX_ERRNO = 4095

/** What raw I/O needs of a kernel: its user arena and raw syscalls (-errno results). */
export interface RawKernel {
  readonly memory: GuestMemory
  readonly syscalls: readonly SyscallInfo[]
  readonly errno: Readonly<Record<string, number>>
  syscall(nr: number, ...args: number[]): Promise<number>
}

export class RawIo {
  readonly #k: RawKernel
  readonly #read: number
  readonly #sendto: number
  readonly #names = new Map<number, string>()

  constructor(k: RawKernel) {
    this.#k = k
    this.#read = RawIo.#nr(k, 'read')
    this.#sendto = RawIo.#nr(k, 'sendto')
    // The first name wins: EAGAIN over its alias EWOULDBLOCK (as k.sys names them).
    for (const [name, value] of Object.entries(k.errno)) if (!this.#names.has(value)) this.#names.set(value, name)
  }

  /** The name of errno (ECONNRESET), or E<n> for one the image does not name. */
  errnoName(errno: number): string {
    return this.#names.get(errno) ?? `E${errno}`
  }

  /** Read at most size bytes from fd; an empty buffer at end of file. */
  async read(fd: number, size: number): Promise<Buffer> {
    const block = this.#k.memory.alloc(size)
    try {
      const n = this.#check(await this.#k.syscall(this.#read, fd, block, size), 'read')
      const bytes = Buffer.allocUnsafe(n)
      this.#k.memory.read(block, bytes)
      return bytes
    } finally {
      this.#k.memory.free(block)
    }
  }

  /** Send bytes on fd (one sendto with flags); resolves with how many the kernel took. */
  async send(fd: number, bytes: Uint8Array, flags: number): Promise<number> {
    const block = this.#k.memory.alloc(Math.max(bytes.length, 1))
    try {
      this.#k.memory.write(block, bytes)
      return this.#check(await this.#k.syscall(this.#sendto, fd, block, bytes.length, flags, 0, 0), 'sendto')
    } finally {
      this.#k.memory.free(block)
    }
  }

  #check(result: number, syscall: string): number {
    if (result < 0 && result >= -MAX_ERRNO) throw new LinuxError(-result, this.errnoName(-result), syscall)
    return result
  }

  static #nr(k: RawKernel, name: string): number {
    const info = k.syscalls.find((s) => s.name === name)
    if (info === undefined) throw new TypeError(`the kernel image has no syscall ${name}`)
    return info.nr
  }
}
