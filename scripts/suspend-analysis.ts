// SPDX-License-Identifier: MIT
/**
 * suspend-analysis.ts - which functions may reach a suspending import, with
 * indirect calls resolved by signature.
 *
 * Asyncify on its own assumes that every indirect call may suspend, so it
 * instruments nearly every function of a kernel. A call_indirect can only reach
 * functions of its own signature that sit in the table, though: resolving it that
 * way keeps every path that can really block and leaves out the leaves (string and
 * list helpers, checksums, arithmetic) that never do. The result feeds asyncify's
 * onlylist and says where preemption checks are worth having.
 *
 * Limits: assumes one table, filled by element segments (what wasm-ld emits), and
 * that no function reaches the table by other means (table.set, or a table the host
 * changes); the calls of the module's exports from the host are roots, not edges.
 */
import binaryen from 'binaryen'
import { type ExpressionRef, forEachExpression } from './wasm-walk.js'


const signature = (params: number, results: number): string => `${params}:${results}`

/** binaryen.js's CallIndirect accessors, which exist at run time but are missing from its typings. */
const CallIndirect = (binaryen as unknown as {
  CallIndirect: { getParams(call: ExpressionRef): number, getResults(call: ExpressionRef): number }
}).CallIndirect

/**
 * The names of the defined functions that may reach one of suspending (imports as
 * "module.base") through direct calls and signature-resolved indirect calls.
 */
export function functionsThatMaySuspend(module: binaryen.Module, suspending: readonly string[]): Set<string> {
  const wanted = new Set(suspending)
  const callersOf = new Map<string, string[]>()
  const indirectCallersOf = new Map<string, string[]>()
  const signatureOf = new Map<string, string>()
  const result = new Set<string>()
  const work: string[] = []
  const mark = (name: string): void => {
    if (!result.has(name)) {
      result.add(name)
      work.push(name)
    }
  }

  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i))
    signatureOf.set(info.name, signature(info.params, info.results))
    if (info.module !== null && info.module !== '') {
      if (wanted.has(`${info.module}.${info.base}`)) mark(info.name)
      continue
    }
    const direct = new Set<string>()
    const indirect = new Set<string>()
    forEachExpression(info.body, info.name, (expr, id) => {
      if (id === binaryen.CallId) direct.add((binaryen.getExpressionInfo(expr) as binaryen.CallInfo).target)
      else if (id === binaryen.CallIndirectId) indirect.add(signature(CallIndirect.getParams(expr), CallIndirect.getResults(expr)))
    })
    for (const callee of direct) callersOf.set(callee, [...(callersOf.get(callee) ?? []), info.name])
    for (const sig of indirect) indirectCallersOf.set(sig, [...(indirectCallersOf.get(sig) ?? []), info.name])
  }

  const inTable = new Set<string>()
  for (let i = 0; i < module.getNumElementSegments(); i++) {
    for (const name of binaryen.getElementSegmentInfo(module.getElementSegmentByIndex(i)).data) inTable.add(name)
  }

  const reachedSignatures = new Set<string>()
  while (work.length > 0) {
    const name = work.pop()!
    for (const caller of callersOf.get(name) ?? []) mark(caller)
    const sig = signatureOf.get(name)!
    if (inTable.has(name) && !reachedSignatures.has(sig)) {
      reachedSignatures.add(sig)
      for (const caller of indirectCallersOf.get(sig) ?? []) mark(caller)
    }
  }
  // Only defined functions are instrumented: leave the imports out.
  for (const name of [...result]) {
    const info = binaryen.getFunctionInfo(module.getFunction(name))
    if (info.module !== null && info.module !== '') result.delete(name)
  }
  return result
}
