// SPDX-License-Identifier: MIT
/**
 * output.ts - bytes to stdout (cat, tar, ls) with backpressure, and a write error
 * (EPIPE when the reader has gone: `uklkl cat IMG:/f | head`) as a rejection of
 * the next write, or of finish(), instead of an uncaught 'error' event.
 */
import { once } from 'node:events'

export class Output {
  readonly #sink: NodeJS.WritableStream
  #error: Error | null = null
  readonly #onError = (error: Error): void => {
    this.#error ??= error
  }

  constructor(sink: NodeJS.WritableStream) {
    this.#sink = sink
    sink.on('error', this.#onError)
  }

  /** Write chunk; resolves when the sink can take more, rejects with its write error. */
  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.#error !== null) throw this.#error
    // once() rejects if 'error' comes first.
    if (!this.#sink.write(chunk)) await once(this.#sink, 'drain')
    if (this.#error !== null) throw this.#error
  }

  /** The last write's error, if any (a pipe reports it a tick later); then stop listening. */
  async finish(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve))
    this.#sink.off('error', this.#onError)
    if (this.#error !== null) throw this.#error
  }
}
