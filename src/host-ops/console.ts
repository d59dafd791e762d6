// SPDX-License-Identifier: MIT
/**
 * console.ts - the console family (print, panic) and the console text it keeps.
 *
 * Text goes to the onText callback as it arrives and is kept, bounded to the last
 * TAIL_BYTES characters, for errors that quote the console (a panic, a trap).
 */
import { PanicError } from '../errors.js'
import type { HostContext, Ptr } from './context.js'

const KEPT_CHARS = 256 * 1024
const TAIL_CHARS = 4096

export class Console {
  #text = ''
  readonly #decoder = new TextDecoder()

  constructor(readonly onText?: (text: string) => void) {}

  write(bytes: Uint8Array): void {
    this.append(this.#decoder.decode(bytes, { stream: true }))
  }

  /** Text already decoded: a boot snapshot's console, as the boot printed it. */
  append(text: string): void {
    this.#text = (this.#text + text).slice(-KEPT_CHARS)
    this.onText?.(text)
  }

  /** Everything kept so far (the last KEPT_CHARS characters). */
  text(): string {
    return this.#text
  }

  tail(): string {
    return this.#text.slice(-TAIL_CHARS)
  }
}

export interface ConsoleOps {
  print(str: Ptr<'char'>, len: number): void
  panic(): never
}

export function consoleOps(ctx: HostContext): ConsoleOps {
  return {
    print(str, len) {
      ctx.checkRange('print', str, len)
      ctx.console.write(ctx.bytes().slice(str, str + len))
    },
    panic() {
      throw new PanicError(ctx.sched.current.toString(), ctx.console.tail())
    },
  }
}
