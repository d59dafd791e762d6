// SPDX-License-Identifier: MIT
/**
 * jspi.ts - JSPI (WebAssembly.Suspending, WebAssembly.promising) as the JSPI
 * backend uses it: whether the runtime has it (Node 26 does, Node 20 does not),
 * and its two members typed, since TypeScript's lib does not declare them yet.
 */
import type { FiberRoot } from './fiber.js'

/** Whether this runtime has JSPI (Node 26; Node 20 has not). */
export function hasJspi(): boolean {
  return typeof (WebAssembly as { Suspending?: unknown }).Suspending === 'function'
    && typeof (WebAssembly as { promising?: unknown }).promising === 'function'
}

interface Jspi {
  /** What it makes is an import value the WebAssembly types predate. */
  Suspending: new (fn: (...args: never[]) => unknown) => WebAssembly.ImportValue
  promising: (fn: FiberRoot['fn']) => (...args: number[]) => Promise<unknown>
}

/** The JSPI part of the WebAssembly namespace; only where hasJspi() says so. */
export const jspi = WebAssembly as unknown as Jspi

