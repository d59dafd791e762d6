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
 * Limits: walks the expressions that clang emits for C (MVP, bulk memory, sign-ext,
 * multivalue, legacy EH); any other expression kind stops the build with its id.
 */
import binaryen from 'binaryen'

export const FUEL_EXPORT = 'uklkl_fuel'
const FUEL_GLOBAL = '__uklkl_fuel'
const TICK_MODULE = 'host'
const TICK_BASE = 'preempt_tick'

type Ref = number

/** binaryen.js's Loop accessors, which exist at run time but are missing from its typings. */
const Loop = (binaryen as unknown as { Loop: { getBody(loop: Ref): Ref, setBody(loop: Ref, body: Ref): void } }).Loop

/** The child fields of each composite expression kind, as named by getExpressionInfo. */
const CHILD_FIELDS = new Map<number, readonly string[]>([
  [binaryen.BlockId, ['children']],
  [binaryen.IfId, ['condition', 'ifTrue', 'ifFalse']],
  [binaryen.LoopId, ['body']],
  [binaryen.BreakId, ['condition', 'value']],
  [binaryen.SwitchId, ['condition', 'value']],
  [binaryen.CallId, ['operands']],
  [binaryen.CallIndirectId, ['target', 'operands']],
  [binaryen.LocalSetId, ['value']],
  [binaryen.GlobalSetId, ['value']],
  [binaryen.LoadId, ['ptr']],
  [binaryen.StoreId, ['ptr', 'value']],
  [binaryen.UnaryId, ['value']],
  [binaryen.BinaryId, ['left', 'right']],
  [binaryen.SelectId, ['ifTrue', 'ifFalse', 'condition']],
  [binaryen.DropId, ['value']],
  [binaryen.ReturnId, ['value']],
  [binaryen.MemoryGrowId, ['delta']],
  [binaryen.MemoryCopyId, ['dest', 'source', 'size']],
  [binaryen.MemoryFillId, ['dest', 'value', 'size']],
  [binaryen.MemoryInitId, ['dest', 'offset', 'size']],
  [binaryen.TupleMakeId, ['operands']],
  [binaryen.TupleExtractId, ['tuple']],
  [binaryen.TryId, ['body', 'catchBodies']],
  [binaryen.ThrowId, ['operands']],
])

/** Expression kinds without children (getExpressionInfo throws on some of them). */
const LEAVES = new Set<number>([
  binaryen.NopId, binaryen.LocalGetId, binaryen.GlobalGetId, binaryen.ConstId,
  binaryen.UnreachableId, binaryen.MemorySizeId, binaryen.PopId, binaryen.DataDropId,
  binaryen.RefNullId, binaryen.RefFuncId, binaryen.RethrowId, binaryen.AtomicFenceId,
])

function collectLoops(root: Ref, loops: Ref[], where: string): void {
  const stack: Ref[] = [root]
  while (stack.length > 0) {
    const expr = stack.pop()!
    if (expr === 0) continue
    const id = binaryen.getExpressionId(expr)
    if (LEAVES.has(id)) continue
    const fields = CHILD_FIELDS.get(id)
    if (fields === undefined) throw new Error(`preempt-pass: expression kind ${id} in ${where} is not supported`)
    if (id === binaryen.LoopId) loops.push(expr)
    const info = binaryen.getExpressionInfo(expr) as unknown as Record<string, Ref | Ref[]>
    for (const field of fields) {
      const child = info[field]
      if (Array.isArray(child)) stack.push(...child)
      else if (child !== undefined) stack.push(child)
    }
  }
}

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
 * (functions proven never to spin, e.g. shared with the asyncify removelist).
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
    collectLoops(info.body, loops, info.name)
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
