// SPDX-License-Identifier: MIT
// The boundary agrees with itself: host-ops.h, the TS table and suspending.json.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { HostContext } from '../src/host-ops/context.js'
import { Console, SUSPENDING_OPS, createHostOps } from '../src/host-ops/index.js'
import { loadFixture } from './support/fixture.js'

interface DeclaredOp {
  name: string
  params: number
  suspends: boolean
}

/** Every HOST_OP/HOST_OP_SUSPENDS line of the header, with its parameter count. */
function declaredOps(): DeclaredOp[] {
  const header = readFileSync(new URL('../src/host-ops/host-ops.h', import.meta.url), 'utf8')
  const ops: DeclaredOp[] = []
  for (const match of header.matchAll(/^HOST_OP(_SUSPENDS)?\((.*?)\)( __attribute__.*)?;$/gm)) {
    const declaration = match[2]!
    // ret, name, (params): split the parameter list at commas outside nested parentheses.
    const open = declaration.indexOf('(')
    const [, name] = declaration.slice(0, open).split(',').map((s) => s.trim())
    const params = declaration.slice(open + 1, declaration.lastIndexOf(')'))
    let depth = 0
    let count = params.trim() === 'void' ? 0 : 1
    for (const ch of params) {
      if (ch === '(') depth++
      else if (ch === ')') depth--
      else if (ch === ',' && depth === 0) count++
    }
    ops.push({ name: name!, params: count, suspends: match[1] !== undefined })
  }
  return ops
}

describe('the host-ops boundary', () => {
  const declared = declaredOps()
  const table = createHostOps(new HostContext(new Console())) as unknown as Record<string, (...a: unknown[]) => unknown>

  it('the header declares the LKL table', () => {
    expect(declared.map((op) => op.name)).toEqual(expect.arrayContaining([
      'print', 'panic', 'sem_alloc', 'sem_free', 'sem_up', 'sem_down', 'mutex_alloc', 'mutex_free',
      'mutex_lock', 'mutex_unlock', 'thread_create', 'thread_detach', 'thread_exit', 'thread_join',
      'thread_self', 'thread_equal', 'gettid', 'tls_alloc', 'tls_free', 'tls_set', 'tls_get',
      'mem_alloc', 'mem_free', 'page_alloc', 'page_free', 'time', 'timer_alloc', 'timer_set_oneshot',
      'timer_free', 'ioremap', 'iomem_access', 'virtio_devices', 'setjmp', 'longjmp',
    ]))
  })

  it('the TS table has exactly the declared ops, each taking the declared number of arguments', () => {
    expect(Object.keys(table).sort()).toEqual(declared.map((op) => op.name).sort())
    for (const op of declared) expect(table[op.name]!.length, `arguments of ${op.name}`).toBe(op.params)
  })

  it('suspending.json lists exactly the ops the header marks HOST_OP_SUSPENDS', () => {
    expect([...SUSPENDING_OPS].sort()).toEqual(declared.filter((op) => op.suspends).map((op) => op.name).sort())
  })

  it('a module imports nothing but declared ops', async () => {
    await using fx = await loadFixture('lkl-host')
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(fx.module.bytes))
    const names = new Set(declared.map((op) => op.name))
    for (const imp of imports) {
      expect(imp.module).toBe('host')
      expect(names.has(imp.name), `undeclared import ${imp.name}`).toBe(true)
    }
  })

  it('the tracing switch logs every op with its fiber, arguments and result', async () => {
    const lines: string[] = []
    await using fx = await loadFixture('lkl-host', { trace: (line) => lines.push(line), extraSources: ['src/host-ops/host-selftest.c'] })
    expect(await fx.run('host_selftest_semaphore')).toBe(0)
    expect(lines).toEqual([
      'host_selftest_semaphore#1 sem_alloc(1) = 1',
      'host_selftest_semaphore#1 sem_down(1)',
      'host_selftest_semaphore#1 sem_up(1)',
      'host_selftest_semaphore#1 sem_free(1)',
    ])
  })
})
