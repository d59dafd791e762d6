// SPDX-License-Identifier: MIT
/**
 * wasm-walk.ts - visiting every expression of a function body with binaryen.js,
 * which has no visitor of its own: children come from getExpressionInfo, by the
 * field names of each expression kind.
 *
 * Limits: knows the expressions clang emits for C (MVP, bulk memory, sign-ext,
 * multivalue, legacy EH); any other kind stops the walk with its id, rather than
 * silently skipping a subtree.
 */
import binaryen from 'binaryen'

export type ExpressionRef = number

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

/** Call visit(expr, id) for every expression under root, parents before children. */
export function forEachExpression(root: ExpressionRef, where: string, visit: (expr: ExpressionRef, id: number) => void): void {
  const stack: ExpressionRef[] = [root]
  while (stack.length > 0) {
    const expr = stack.pop()!
    if (expr === 0) continue
    const id = binaryen.getExpressionId(expr)
    visit(expr, id)
    if (LEAVES.has(id)) continue
    const fields = CHILD_FIELDS.get(id)
    if (fields === undefined) throw new Error(`wasm-walk: expression kind ${id} in ${where} is not supported`)
    const info = binaryen.getExpressionInfo(expr) as unknown as Record<string, ExpressionRef | ExpressionRef[]>
    for (const field of fields) {
      const child = info[field]
      if (Array.isArray(child)) stack.push(...child)
      else if (child !== undefined) stack.push(child)
    }
  }
}
