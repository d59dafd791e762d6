// SPDX-License-Identifier: MIT
/**
 * call-outcome.ts - what a worker's call gives back at once: its value when it
 * settled on the caller's stack (the syscall fast path), or a promise of it.
 * A settled call costs no promise, so a caller that gets its value at once can
 * answer its own caller without one.
 *
 * Declarations only, free of WebAssembly types: host-ops/runtime.ts, part of
 * the package's public .d.ts, names it.
 */
export type CallOutcome =
  | { readonly settled: true, readonly value: unknown }
  | { readonly settled: false, readonly promise: Promise<unknown> }
