// SPDX-License-Identifier: MIT
/**
 * trace.ts - the tracing switch: every host op logged as `fiber name(args) = result`.
 *
 * Wraps the import object, so turning it off costs nothing. A call that suspends
 * the fiber is logged as "suspends"; on asyncify its resumption is logged as a
 * second call (the rewind re-enters the op), on JSPI it is not.
 * Void ops are logged without a result.
 */
import type { Scheduler } from '../sched/scheduler.js'

type Op = (...args: never[]) => unknown

function show(value: unknown): string {
  if (typeof value === 'number') return value > 4096 || value < -4096 ? `0x${(value >>> 0).toString(16)}` : String(value)
  if (typeof value === 'bigint') return `${value}n`
  return String(value)
}

export function traceOps<T extends object>(ops: T, sched: () => Scheduler, log: (line: string) => void): T {
  const traced: Record<string, Op> = {}
  for (const [name, op] of Object.entries(ops) as [string, Op][]) {
    traced[name] = (...args: never[]) => {
      const fiber = sched().current
      const call = `${fiber} ${name}(${args.map(show).join(', ')})`
      try {
        const result = op(...args)
        if (fiber.afterUnwind !== null || result instanceof Promise) log(`${call} suspends`)
        else log(result === undefined ? call : `${call} = ${show(result)}`)
        return result
      } catch (error) {
        log(`${call} throws ${error instanceof Error ? error.name : String(error)}`)
        throw error
      }
    }
  }
  return traced as T
}
