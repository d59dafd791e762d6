// SPDX-License-Identifier: MIT
/**
 * memory-views.ts - views of a wasm memory, made again only when the memory has
 * grown: growth replaces memory.buffer and detaches every view of the old one.
 * Host ops and the trampoline read and write the memory on every call; one pair
 * of views saves them an allocation each time. writeString encodes a string
 * into such a view in place (k.sys's string arguments).
 *
 * Limits: a view taken from here is valid until the memory next grows (any heap
 * allocation may grow it), so take it again rather than keep it.
 */
export class MemoryViews {
  readonly #memory: WebAssembly.Memory
  #buffer: ArrayBuffer
  #bytes: Uint8Array
  #data: DataView

  constructor(memory: WebAssembly.Memory) {
    this.#memory = memory
    this.#buffer = memory.buffer
    this.#bytes = new Uint8Array(this.#buffer)
    this.#data = new DataView(this.#buffer)
  }

  /** The whole memory as bytes. */
  get bytes(): Uint8Array {
    if (this.#memory.buffer !== this.#buffer) this.#refresh()
    return this.#bytes
  }

  /** The whole memory as a DataView. */
  get data(): DataView {
    if (this.#memory.buffer !== this.#buffer) this.#refresh()
    return this.#data
  }

  #refresh(): void {
    this.#buffer = this.#memory.buffer
    this.#bytes = new Uint8Array(this.#buffer)
    this.#data = new DataView(this.#buffer)
  }
}

const encoder = new TextEncoder()

/**
 * text as UTF-8 and a NUL at the start of into, which holds its UTF-8 bytes and
 * one more (a lone surrogate is U+FFFD, 3 bytes). Encoded in place:
 * TextEncoder.encode's new array and its copy cost a syscall ~1 µs per string
 * argument.
 */
export function writeString(into: Uint8Array, text: string): void {
  const { written } = encoder.encodeInto(text, into)
  into[written] = 0
}
