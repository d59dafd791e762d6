// SPDX-License-Identifier: MIT
/**
 * replace.ts - the host ops a user may replace (startKernel({ hostOps })), which is
 * how LKL is embedded: the embedder's own console, panic hook, clock and entropy.
 *
 * Members follow LKL's struct lkl_host_operations where the op is the same (print,
 * panic, time) and ours where LKL has none (random), in JS shapes: text instead of
 * (char *, len), a Uint8Array instead of (void *, len). Each replacement is checked
 * when the kernel starts - an unknown op, one the runtime must keep, a value that is
 * not a function, or an async function where the op may not suspend is a TypeError
 * then, not a trap later - and each call is checked as it returns (a promise, or a
 * time that is not a non-negative bigint, is a HostOpMisuseError).
 *
 * Limits: the other ops (sem_*, mutex_*, thread_*, tls_*, mem_*, page_*, timer_*,
 * jmp_buf and the preemption points) are the fiber runtime itself; replacing one
 * would bypass the scheduler, so they are not replaceable.
 */
import { PanicError } from '../errors.js'
import type { HostContext, Ptr } from './context.js'
import type { HostOpReplacements } from './runtime.js'

export type { HostOpReplacements } from './runtime.js'

type Replaceable = keyof HostOpReplacements

/** Each replaceable op and how many arguments its replacement takes at most. */
const REPLACEABLE: Readonly<Record<Replaceable, number>> = { print: 1, panic: 1, time: 0, random: 1 }

function isReplaceable(name: string): name is Replaceable {
  return Object.hasOwn(REPLACEABLE, name)
}

/**
 * Check the replacements given to startKernel; known is every op of the table.
 * Throws a TypeError naming the op and the rule it breaks.
 */
export function checkReplacements(given: unknown, known: ReadonlySet<string>): HostOpReplacements {
  if (typeof given !== 'object' || given === null) throw new TypeError('hostOps must be an object of host ops')
  const replaceable = Object.keys(REPLACEABLE).join(', ')
  for (const [name, fn] of Object.entries(given)) {
    if (fn === undefined) continue
    if (!isReplaceable(name)) {
      throw new TypeError(known.has(name)
        ? `host op ${name} cannot be replaced: the fiber runtime implements it (replaceable: ${replaceable})`
        : `no host op ${name} (replaceable: ${replaceable})`)
    }
    if (typeof fn !== 'function') throw new TypeError(`host op ${name} must be a function, not ${typeof fn}`)
    // An async function always returns a promise: the kernel would be waiting on nothing.
    const kind = (fn as { constructor?: { name?: unknown } }).constructor?.name
    if (kind === 'AsyncFunction' || kind === 'AsyncGeneratorFunction' || kind === 'GeneratorFunction') {
      throw new TypeError(`host op ${name} may not suspend: a ${kind} cannot replace it; return at once`)
    }
    const arity = (fn as (...args: never[]) => unknown).length
    if (arity > REPLACEABLE[name]) {
      throw new TypeError(`host op ${name} takes ${REPLACEABLE[name]} argument(s); the replacement declares ${arity}`)
    }
  }
  return given as HostOpReplacements
}

/** What a replacement returned, checked: a promise means it tried to suspend. */
function settled<T>(ctx: HostContext, op: string, value: T): T {
  if (typeof (value as { then?: unknown } | null)?.then === 'function') {
    throw ctx.misuse(op, 'the replacement returned a promise; this op may not suspend')
  }
  return value
}

/** The table ops that replacements change (a subset of HostOps' shapes). */
export interface ReplacedOps {
  print(str: Ptr<'char'>, len: number): void
  panic(): never
  time(): bigint
  random(buf: Ptr<'void'>, len: number): number
}

/** The ops of replacements, in the table's shapes; ops not replaced are absent. */
export function replacementOps(ctx: HostContext, replacements: HostOpReplacements): Partial<ReplacedOps> {
  const { print, panic, time, random } = replacements
  const ops: Partial<ReplacedOps> = {}
  if (print !== undefined) {
    const decoder = new TextDecoder()
    ops.print = (str, len) => {
      ctx.checkRange('print', str, len)
      const bytes = ctx.bytes().slice(str, str + len)
      ctx.console.write(bytes)
      settled(ctx, 'print', print(decoder.decode(bytes, { stream: true })))
    }
  }
  if (panic !== undefined) {
    ops.panic = () => {
      settled(ctx, 'panic', panic(ctx.console.tail()))
      throw new PanicError(ctx.sched.current.toString(), ctx.console.tail())
    }
  }
  if (time !== undefined) {
    ops.time = () => {
      const now = settled(ctx, 'time', time())
      if (typeof now !== 'bigint' || now < 0n) throw ctx.misuse('time', `the replacement returned ${String(now)}, not a non-negative bigint`)
      return now
    }
  }
  if (random !== undefined) {
    ops.random = (buf, len) => {
      const size = len >>> 0
      ctx.checkRange('random', buf >>> 0, size)
      const bytes = new Uint8Array(size)
      settled(ctx, 'random', random(bytes))
      ctx.bytes().set(bytes, buf >>> 0)
      return 0
    }
  }
  return ops
}
