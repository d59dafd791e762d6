// SPDX-License-Identifier: MIT
/**
 * jspi-serve.ts - a worker's call loop for the JSPI backend, so that a worker's
 * calls after the first need no WebAssembly.promising call each.
 *
 * A promising call costs a new V8 stack and its promise (~0.9 µs measured, about
 * as much again in garbage). A worker makes one call after another to the same
 * export (the kernel's kernel_syscall), so its first call instead runs a loop, in
 * a module of a few bytes made here, that calls the export and then hands the
 * result to the host through a Suspending import: the fiber parks there, its
 * stack kept, until the next call's arguments resume it.
 *
 *   serve(a, b) = loop { a = next(root(a, b)); b = arg1() }
 *
 * The loop is made for exports of type (i32, i32) -> i32 only: instantiating it
 * against any other is a LinkError, and such an export is called as before.
 * A throw through the frames (thread_exit, thread_return, a trap) ends the loop
 * with the call; the worker's next call starts a new one.
 */
import type { FiberRoot } from './fiber.js'
import { jspi } from './jspi.js'

/** The host's side of a loop: next parks the fiber with a call's result, arg1 gives the second argument of the next call. */
export interface ServeHost {
  next(result: number): Promise<number>
  arg1(): number
}

/** A section: its id, then its content's length and the content. */
function section(id: number, content: readonly number[]): number[] {
  return [id, ...uleb(content.length), ...content]
}

function uleb(value: number): number[] {
  const bytes: number[] = []
  do {
    let byte = value & 0x7f
    value >>>= 7
    if (value !== 0) byte |= 0x80
    bytes.push(byte)
  } while (value !== 0)
  return bytes
}

function name(text: string): number[] {
  return [text.length, ...[...text].map((c) => c.charCodeAt(0))]
}

const I32 = 0x7f
const FUNC = 0x60

/** The loop's module: imports h.root (i32 i32 -> i32), h.next (i32 -> i32), h.arg1 (-> i32); exports serve (i32 i32 -> i32). */
const SERVE_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [3, FUNC, 2, I32, I32, 1, I32, FUNC, 1, I32, 1, I32, FUNC, 0, 1, I32]),
  ...section(2, [3, ...name('h'), ...name('root'), 0, 0, ...name('h'), ...name('next'), 0, 1, ...name('h'), ...name('arg1'), 0, 2]),
  ...section(3, [1, 0]),
  ...section(7, [1, ...name('serve'), 0, 3]),
  ...section(10, [1, ...(() => {
    const body = [
      0, // no locals
      0x03, 0x40, // loop
      0x20, 0, 0x20, 1, 0x10, 0, // root(a, b)
      0x10, 1, 0x21, 0, // a = next(result)
      0x10, 2, 0x21, 1, // b = arg1()
      0x0c, 0, // br loop
      0x0b, // end loop
      0x00, // unreachable
      0x0b, // end
    ]
    return [...uleb(body.length), ...body]
  })()]),
])

let compiled: WebAssembly.Module | null = null

/** serve for root, or null when root is not of the loop's type. */
export function serveLoop(root: FiberRoot['fn'], host: ServeHost): FiberRoot['fn'] | null {
  compiled ??= new WebAssembly.Module(SERVE_MODULE)
  try {
    const instance = new WebAssembly.Instance(compiled, {
      h: { root, next: new jspi.Suspending((result: number) => host.next(result)), arg1: () => host.arg1() },
    })
    return instance.exports.serve as FiberRoot['fn']
  } catch (error) {
    if (error instanceof WebAssembly.LinkError) return null
    throw error
  }
}
