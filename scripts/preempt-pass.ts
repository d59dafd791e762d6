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
 */
import binaryen from 'binaryen'
import { type ExpressionRef, forEachExpression } from './wasm-walk.js'

const FUEL_EXPORT = 'uklkl_fuel'
const FUEL_GLOBAL = '__uklkl_fuel'
const TICK_MODULE = 'host'
const TICK_BASE = 'preempt_tick'

type Ref = ExpressionRef

/** binaryen.js's Loop accessors, which exist at run time but are missing from its typings. */
const Loop = (binaryen as unknown as { Loop: { getBody(loop: Ref): Ref, setBody(loop: Ref, body: Ref): void } }).Loop

/** The internal name of host.preempt_tick, importing it if the C code did not. */
function tickFunction(module: binaryen.Module): string {
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i))
    if (info.module === TICK_MODULE && info.base === TICK_BASE) return info.name
  }
  const name = '__uklkl_preempt_tick'
  module.addFunctionImport(name, TICK_MODULE, TICK_BASE, binaryen.none, binaryen.none)
  return name
}

export interface PreemptStats {
  functions: number
  loops: number
}

/**
 * Instrument every loop of every defined function whose name is not in skip
 * (see Instrumentation.preempt in build-wasm.ts for who skips what).
 */
export function instrumentPreemption(module: binaryen.Module, skip: ReadonlySet<string> = new Set()): PreemptStats {
  module.addGlobal(FUEL_GLOBAL, binaryen.i32, true, module.i32.const(0))
  module.addGlobalExport(FUEL_GLOBAL, FUEL_EXPORT)
  const tick = tickFunction(module)
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
      const check = module.block(null, [
        module.global.set(FUEL_GLOBAL, module.i32.sub(module.global.get(FUEL_GLOBAL, binaryen.i32), module.i32.const(1))),
        module.if(
          module.i32.lt_s(module.global.get(FUEL_GLOBAL, binaryen.i32), module.i32.const(0)),
          module.call(tick, [], binaryen.none),
        ),
      ], binaryen.none)
      Loop.setBody(loop, module.block(null, [check, body], binaryen.getExpressionType(body)))
    }
  }
  return stats
}
