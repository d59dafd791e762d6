// SPDX-License-Identifier: MIT
/**
 * preempt-pass.ts - the preemption instrumentation: a fuel check at every loop header.
 *
 * Each loop body starts with `fuel -= 1; if (fuel < 0) host.preempt_tick()`. The host
 * refills the exported global `uklkl_fuel` on every tick call and reads the clock
 * there, so the clock is consulted once per refill, not once per iteration. Code
 * without loops (straight-line or recursive) is not checked: the kernel's long waits
 * are all loops. Must run BEFORE asyncify, with host.preempt_tick among the
 * suspending imports, so that asyncify can unwind from the check.
 *
 * A module may name a function of its own to call instead (a preemption point: the
 * kernel's wasm_preempt_point, which calls host.preempt_tick and then lets the kernel
 * preempt the task); it is not instrumented itself, and must exist.
 *
 * The watchdog check is the same at loops that must not suspend (asyncify leaves
 * their functions alone): `wfuel -= 1; if (wfuel < 0) host.watchdog_tick()`, a
 * counter of its own (uklkl_watchdog_fuel) and an op that never switches threads,
 * only lets the host see a loop that runs for too long.
 */
import binaryen from 'binaryen'
import { type ExpressionRef, forEachExpression } from './wasm-walk.js'

/** A loop check: its counter (a global, exported for the host to refill) and the op it calls. */
interface LoopCheck {
  global: string
  exportName: string
  op: string
}

const TICK_MODULE = 'host'
const PREEMPT: LoopCheck = { global: '__uklkl_fuel', exportName: 'uklkl_fuel', op: 'preempt_tick' }
const WATCHDOG: LoopCheck = { global: '__uklkl_watchdog_fuel', exportName: 'uklkl_watchdog_fuel', op: 'watchdog_tick' }

type Ref = ExpressionRef

/** binaryen.js's Loop accessors, which exist at run time but are missing from its typings. */
const Loop = (binaryen as unknown as { Loop: { getBody(loop: Ref): Ref, setBody(loop: Ref, body: Ref): void } }).Loop

/** The internal name of host.<base>, importing it if the C code did not. */
function opFunction(module: binaryen.Module, base: string): string {
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i))
    if (info.module === TICK_MODULE && info.base === base) return info.name
  }
  const name = `__uklkl_${base}`
  module.addFunctionImport(name, TICK_MODULE, base, binaryen.none, binaryen.none)
  return name
}

export interface PreemptStats {
  functions: number
  loops: number
}

/**
 * Instrument every loop of every defined function whose name is not in skip
 * (see Instrumentation.preempt in build-wasm.ts for who skips what); the check
 * calls point, a defined function, when given, else host.preempt_tick.
 */
export function instrumentPreemption(
  module: binaryen.Module, skip: ReadonlySet<string> = new Set(), point?: string,
): PreemptStats {
  if (point === undefined) return instrumentLoops(module, PREEMPT, skip)
  if (module.getFunction(point) === 0) throw new Error(`preempt-pass: the preemption point ${point} is not in the module`)
  return instrumentLoops(module, PREEMPT, new Set([...skip, point]), point)
}

/** Watchdog checks at every loop of every defined function not in skip: those that must never suspend. */
export function instrumentWatchdog(module: binaryen.Module, skip: ReadonlySet<string>): PreemptStats {
  return instrumentLoops(module, WATCHDOG, skip)
}

/** point: the op is that defined function, not a host import. */
function instrumentLoops(module: binaryen.Module, check: LoopCheck, skip: ReadonlySet<string>, point?: string): PreemptStats {
  module.addGlobal(check.global, binaryen.i32, true, module.i32.const(0))
  module.addGlobalExport(check.global, check.exportName)
  const tick = point ?? opFunction(module, check.op)
  const stats: PreemptStats = { functions: 0, loops: 0 }
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const fn = module.getFunctionByIndex(i)
    const info = binaryen.getFunctionInfo(fn)
    if (info.module !== '' || skip.has(info.name)) continue
    const loops: Ref[] = []
    forEachExpression(info.body, info.name, (expr, id) => {
      if (id === binaryen.LoopId) loops.push(expr)
    })
    if (loops.length === 0) continue
    stats.functions++
    stats.loops += loops.length
    for (const loop of loops) {
      const body = Loop.getBody(loop)
      // A fresh check per loop: binaryen expressions must not be shared between parents.
      const fuelCheck = module.block(null, [
        module.global.set(check.global, module.i32.sub(module.global.get(check.global, binaryen.i32), module.i32.const(1))),
        module.if(
          module.i32.lt_s(module.global.get(check.global, binaryen.i32), module.i32.const(0)),
          module.call(tick, [], binaryen.none),
        ),
      ], binaryen.none)
      Loop.setBody(loop, module.block(null, [fuelCheck, body], binaryen.getExpressionType(body)))
    }
  }
  return stats
}
