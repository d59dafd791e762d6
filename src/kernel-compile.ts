// SPDX-License-Identifier: MIT
/**
 * kernel-compile.ts - compiling lkl.wasm so that a fresh process boots quickly:
 * V8's optimizing tier is deferred until the kernel's code has run well past a boot.
 * Also read from its bytes: the limits of the memory it imports, which the host
 * gives it (src/host-ops/memory-pool.ts).
 *
 * V8 (Node 20: 11.3) compiles a wasm function with Liftoff, its baseline compiler,
 * when the function is first called, and queues it for TurboFan once it has spent
 * its tiering budget (roughly bytes of code executed; 1 800 000 by default). A boot
 * runs a few loops long enough for that (freeing every page of memory, filling hash
 * tables): V8 then optimizes, on background threads, functions that hardly run
 * again, and those threads take the CPU from the boot (measured in
 * bench/cold-start.ts: the boot of a fresh process 4-6× slower on a loaded two-core
 * machine). Worse, a script whose event loop has nothing else to wait for resumes
 * after WebAssembly.compile() from inside Node's DrainTasks, which, when the boot
 * first yields, waits for every queued TurboFan job before the loop goes on.
 *
 * 'deferred' compiles the kernel with a large initial budget: V8 reads the flag when
 * it creates the module's code (each function's first budget) and again each time a
 * function asks to tier up (the budgets after that), so the flag is raised for the
 * compile only and put back at once. No boot spends the first budget; a function
 * that stays hot afterwards still reaches TurboFan (its first budget gone in about
 * a second of its own running), and every budget after that is V8's own.
 *
 * Limits: V8 flags belong to the whole process. Another module compiled while the
 * kernel compiles gets the large first budget too, and the value put back is V8's
 * default unless Node's command line or NODE_OPTIONS set one (a value set at run
 * time by v8.setFlagsFromString cannot be read back, so it is lost). The default is
 * known for V8 up to 12.4 (Node 20 and 22, 1 800 000) and for V8 14.6 (Node 26,
 * 13 000 000); on another V8 with no budget on the command line, 'deferred' leaves
 * V8's tiering alone. Measured on Node 26 too: a cold JSPI boot 75-79 ms with the
 * large budget against 97-109 without (the budget given on the command line,
 * where it also cost the import ~15 ms: Node's code cache of its own modules is
 * not used under changed V8 flags; 'deferred' sets it after the import).
 */
import v8 from 'node:v8'
import type { KernelTiering } from './kernel.js'

/**
 * The kernel's first budget under 'deferred': ~220× V8's default. It outlasts the
 * boot loops of memoryMiB up to 256 (a 32 MiB boot needed ~100 000 000, a 256 MiB
 * one 400 000 000), and stays far below the flag's int32 limit.
 */
export const DEFERRED_TIERING_BUDGET = 400_000_000

/** V8's default --wasm-tiering-budget through V8 12.4. */
const V8_DEFAULT_TIERING_BUDGET = 1_800_000
/** V8 14.6's (Node 26), as its `node --v8-options` prints it. */
const V8_14_6_TIERING_BUDGET = 13_000_000

const BUDGET_FLAG = /^--wasm[-_]tiering[-_]budget(?:=(.*))?$/

/**
 * The tiering budget to put back after the compile: the last --wasm-tiering-budget
 * on the command line (execArgv, then NODE_OPTIONS, which Node reads after it), else
 * V8's default when it is known for v8Version; null when neither is known.
 */
export function tieringBudgetToRestore(execArgv: readonly string[], nodeOptions: string | undefined,
  v8Version: string): number | null {
  let found: number | null = null
  for (const args of [execArgv, (nodeOptions ?? '').split(/\s+/)]) {
    for (let i = 0; i < args.length; i++) {
      const match = BUDGET_FLAG.exec(args[i] ?? '')
      if (match === null) continue
      // V8 takes both --flag=value and --flag value.
      const value = Number(match[1] ?? args[++i])
      if (Number.isInteger(value)) found = value
    }
  }
  if (found !== null) return found
  const [major = 0, minor = 0] = v8Version.split('.').map(Number)
  if (major < 12 || (major === 12 && minor <= 4)) return V8_DEFAULT_TIERING_BUDGET
  return major === 14 && minor === 6 ? V8_14_6_TIERING_BUDGET : null
}

/** Compiles under way with the large budget: the flag goes back when the last one ends. */
let raised = 0

/** Compile the kernel's module bytes with the given tiering. */
export async function compileKernel(bytes: Uint8Array<ArrayBuffer>, tiering: KernelTiering): Promise<WebAssembly.Module> {
  const restore = tiering === 'deferred'
    ? tieringBudgetToRestore(process.execArgv, process.env.NODE_OPTIONS, process.versions.v8) : null
  if (restore === null) return compileHeld(bytes)
  if (raised++ === 0) v8.setFlagsFromString(`--wasm-tiering-budget=${DEFERRED_TIERING_BUDGET}`)
  try {
    // Until it settles: an asynchronous compile may create the module's code after this call returns.
    return await compileHeld(bytes)
  } finally {
    if (--raised === 0) v8.setFlagsFromString(`--wasm-tiering-budget=${restore}`)
  }
}

/**
 * WebAssembly.compile, with Node's event loop held open until it settles: Node 26
 * compiling eagerly (--no-wasm-lazy-compilation) counts V8's compile on its own
 * threads as no pending work, and a script awaiting the kernel image exited
 * half-way, its top-level await unsettled.
 */
async function compileHeld(bytes: Uint8Array<ArrayBuffer>): Promise<WebAssembly.Module> {
  const hold = setInterval(() => undefined, 2 ** 30)
  try {
    return await WebAssembly.compile(bytes)
  } finally {
    clearInterval(hold)
  }
}

/** A reader of a module's bytes: unsigned LEB128 numbers, names and section headers. */
export class WasmBytes {
  /** Where the next read starts: past the magic and the version. */
  at = 8

  constructor(readonly bytes: Uint8Array) {}

  u32(): number {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      const byte = this.bytes[this.at++] ?? 0
      value += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return value
    }
  }

  byte(): number {
    return this.bytes[this.at++] ?? 0
  }

  /** Step over a name (or any length-prefixed bytes). */
  skipName(): void {
    const length = this.u32()
    this.at += length
  }

  /** Move to the content of the next section with this id: its size, or null when there is none. */
  section(id: number): number | null {
    while (this.at < this.bytes.length) {
      const found = this.byte()
      const size = this.u32()
      if (found === id) return size
      this.at += size
    }
    return null
  }
}

/** The limits of the memory a module imports, in wasm pages, from its bytes; null when it imports none. */
export function importedMemory(bytes: Uint8Array): { initial: number, maximum: number | undefined } | null {
  const wasm = new WasmBytes(bytes)
  if (wasm.section(2) === null) return null
  for (let count = wasm.u32(); count > 0; count--) {
    wasm.skipName() // the module's name
    wasm.skipName() // the import's
    const kind = wasm.byte()
    if (kind === 0) wasm.u32() // a function: its type
    else if (kind === 1) { // a table: its element type, then limits
      wasm.byte()
      if (wasm.byte() & 1) wasm.u32()
      wasm.u32()
    } else if (kind === 2) {
      const flags = wasm.byte()
      const initial = wasm.u32()
      return { initial, maximum: (flags & 1) !== 0 ? wasm.u32() : undefined }
    } else if (kind === 3) wasm.at += 2 // a global: its type and mutability
    else { // a tag: its attribute and type
      wasm.byte()
      wasm.u32()
    }
  }
  return null
}
