// SPDX-License-Identifier: MIT
/**
 * kernel-buffer.ts - k.alloc(n): memory in the kernel's user arena that k.sys takes
 * by address, so the kernel reads and writes it in place, with no copy in and none
 * out. A plain Uint8Array is copied in before a call and back out after it; for
 * large or repeated I/O a KernelBuffer saves both copies.
 *
 * `bytes` is a view of the buffer. The wasm memory may grow at any await (a new
 * fiber's stack, a device's buffers), which detaches every view of it: `bytes`
 * then gives a new one, so read it again after an await instead of keeping it.
 *
 * Limits: the arena's size (KernelOptions.userMemoryMiB) bounds all buffers and
 * syscall arguments together; a buffer lives until free() or the kernel's halt.
 */
import type { GuestMemory } from './host-ops/runtime.js'

export class KernelBuffer {
  readonly #memory: GuestMemory
  #live = true
  #view: Uint8Array | null = null

  /** For Kernel.alloc; address is a block of memory's, length bytes long. */
  constructor(memory: GuestMemory, readonly address: number, readonly length: number) {
    this.#memory = memory
  }

  /** The buffer's bytes, a view of the kernel's memory (see the file's header on growth). */
  get bytes(): Uint8Array {
    this.#checkLive()
    // A view detached by growth has no bytes left.
    if (this.#view === null || this.#view.byteLength !== this.length) this.#view = this.#memory.view(this.address, this.length)
    return this.#view
  }

  get freed(): boolean {
    return !this.#live
  }

  /** Give the memory back; later uses throw. Freeing again does nothing. */
  free(): void {
    if (!this.#live) return
    this.#live = false
    this.#view = null
    this.#memory.free(this.address)
  }

  [Symbol.dispose](): void {
    this.free()
  }

  /** The address to pass for a syscall whose arguments go through memory. */
  addressIn(memory: GuestMemory, where: string): number {
    if (memory !== this.#memory) throw new TypeError(`${where}: this KernelBuffer belongs to another kernel`)
    this.#checkLive()
    return this.address
  }

  #checkLive(): void {
    if (!this.#live) throw new TypeError(`the KernelBuffer at 0x${this.address.toString(16)} has been freed`)
  }
}
