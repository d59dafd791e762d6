// SPDX-License-Identifier: MIT
/**
 * function-names.ts - names for the wasm frames of a failed runtime's error stacks,
 * from a names file beside the module instead of its name section.
 *
 * The kernel image ships without a name section (it was 192 KB of lkl.wasm); its
 * function names are in lkl.names, one per line, line N for function N of the
 * module (scripts/wasm-names.ts writes it). V8 prints a frame of a module without
 * names as `at wasm://wasm/<hash>:wasm-function[N]:0x<offset>`; nameFrames puts the
 * name back in V8's own form for named modules,
 * `at <name> (wasm://wasm/<hash>:wasm-function[N]:0x<offset>)`, in the stack of the
 * error and of every cause behind it, so a trap or a panic reads as it did with the
 * section.
 *
 * Limits: only the errors that fail a runtime are rewritten (instantiate() calls
 * this when the scheduler fails); a profiler or a debugger still shows
 * wasm-function[N]. The names must come from the build of the module (the image
 * loader reads both from one folder).
 */

const UNNAMED_FRAME = /\bat (wasm:\/\/wasm\/[0-9a-f]+:wasm-function\[(\d+)\]:0x[0-9a-f]+)/g

export class FunctionNames {
  readonly #names: readonly string[]

  /** text: a names file, one function name per line in function-index order. */
  constructor(text: string) {
    this.#names = text.split('\n')
  }

  /** The name of function index, or undefined when the file has none. */
  name(index: number): string | undefined {
    const name = this.#names[index]
    return name === undefined || name === '' ? undefined : name
  }

  /** Name the unnamed wasm frames in the stacks of error and its causes (frames already named stay). */
  nameFrames(error: Error): void {
    // Bounded: a cause chain may loop back on itself.
    for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
      if (typeof e.stack !== 'string') continue
      e.stack = e.stack.replace(UNNAMED_FRAME, (frame: string, location: string, index: string) => {
        const name = this.name(Number(index))
        return name === undefined ? frame : `at ${name} (${location})`
      })
    }
  }
}
