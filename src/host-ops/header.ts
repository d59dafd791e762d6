// SPDX-License-Identifier: MIT
/**
 * header.ts - host-ops.h read as data: every host op (its name, C return type and
 * parameters, whether it may suspend) and every export the header promises (each
 * export_name attribute). One parse serves the kernel build's export check
 * (wasm/build.ts), the generated kernel API types (wasm/api-types.ts) and the
 * boundary test, so no list of ops or exports is copied by hand.
 *
 * Limits: relies on the form the header promises: one HOST_OP or HOST_OP_SUSPENDS
 * per line, and each exported function declared on one line ending in its
 * export_name attribute. Nothing at runtime parses the header.
 */

export interface HeaderOp {
  /** The import name, e.g. 'sem_down' (the C function is host_sem_down). */
  name: string
  returns: string
  /** The C parameters, e.g. ['const char *str', 'int len']; [] for (void). */
  params: string[]
  suspends: boolean
}

export interface HeaderExport {
  /** The export name, e.g. 'kernel_start'. */
  name: string
  /** The C function behind it, e.g. 'lkl_start_kernel'. */
  cName: string
  returns: string
  params: string[]
}

export interface HostOpsHeader {
  ops: HeaderOp[]
  exports: HeaderExport[]
}

/**
 * What every module of the build path (scripts/build-wasm.ts, wasm/build.ts)
 * exports from the linker besides the header's functions; host-ops.h names them
 * in prose because C cannot declare them.
 */
export const LINKER_EXPORTS = ['memory', '__stack_pointer', '__heap_base'] as const

/**
 * A C parameter list split at the commas outside nested parentheses (function
 * pointers), each trimmed; [] for (void) and (). The syscall prototypes of
 * wasm/api-data.ts are split the same way.
 */
export function splitParams(list: string): string[] {
  const text = list.trim()
  if (text === 'void' || text === '') return []
  const params: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch === '(') depth++
    else if (ch === ')') depth--
    else if (ch === ',' && depth === 0) {
      params.push(text.slice(start, i).trim())
      start = i + 1
    }
  }
  params.push(text.slice(start).trim())
  return params
}

export function parseHostOpsHeader(text: string): HostOpsHeader {
  const ops: HeaderOp[] = []
  for (const match of text.matchAll(/^HOST_OP(_SUSPENDS)?\((.*?)\)( __attribute__.*)?;$/gm)) {
    // ret, name, (params): the return type may hold a '*', never a comma.
    const declaration = match[2] ?? ''
    const open = declaration.indexOf('(')
    const [returns, name] = declaration.slice(0, open).split(',').map((s) => s.trim())
    if (returns === undefined || name === undefined || open < 0) throw new Error(`host-ops.h: cannot read ${match[0]}`)
    ops.push({
      name,
      returns,
      params: splitParams(declaration.slice(open + 1, declaration.lastIndexOf(')'))),
      suspends: match[1] !== undefined,
    })
  }
  const exports: HeaderExport[] = []
  for (const match of text.matchAll(/^(.*)__attribute__\(\(export_name\("(\w+)"\)\)\);$/gm)) {
    const declaration = /^(.*?)\b(\w+)\((.*)\)\s*$/.exec(match[1] ?? '')
    if (declaration === null) throw new Error(`host-ops.h: cannot read ${match[0]}`)
    exports.push({
      name: match[2] ?? '',
      cName: declaration[2] ?? '',
      returns: (declaration[1] ?? '').trim(),
      params: splitParams(declaration[3] ?? ''),
    })
  }
  if (ops.length === 0 || exports.length === 0) throw new Error('host-ops.h: no HOST_OP or export_name declarations found')
  return { ops, exports }
}
