// SPDX-License-Identifier: MIT
// The boundary agrees with itself: host-ops.h (read by the one parser the build and the
// generated API use), the TS table, suspending.json and the exports the runtime needs.
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { HostContext } from '../src/host-ops/context.js'
import { LINKER_EXPORTS, parseHostOpsHeader } from '../src/host-ops/header.js'
import { Console, HOST_RUNTIME_EXPORTS, SUSPENDING_OPS, createHostOps, instantiate } from '../src/host-ops/index.js'
import { loadFixture } from './support/fixture.js'

const headerText = readFileSync(new URL('../src/host-ops/host-ops.h', import.meta.url), 'utf8')
const header = parseHostOpsHeader(headerText)

/** The layers below the API: everything else under src/ is above them. */
const BELOW_THE_API = ['host-ops', 'sched', 'nolibc', 'generated']
/** What the API may import from src/host-ops: the narrow interface, the header's data, instantiate(), the names file's reader. */
const API_VIEW_OF_HOST_OPS: Record<string, RegExp> = {
  'runtime.js': /^type \{[^}]*\}$/,
  'header.js': /^\{ LINKER_EXPORTS \}$/,
  // instantiate, and whether this runtime has JSPI (which kernel image a default load picks).
  'index.js': /^\{ (hasJspi, )?instantiate \}$/,
  'function-names.js': /^\{ FunctionNames \}$/,
}

/** Every .ts file of src/ above the host-ops layer, with its text. */
function apiSources(): { file: string, text: string }[] {
  const src = fileURLToPath(new URL('../src/', import.meta.url))
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !BELOW_THE_API.includes(f.split(path.sep)[0] ?? ''))
  return files.map((file) => ({ file, text: readFileSync(path.join(src, file), 'utf8') }))
}

/** The smallest module that exports a memory and nothing else. */
const MEMORY_ONLY_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, no maximum, 1 page
  0x07, 0x0a, 0x01, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, // export "memory", memory 0
])

describe('the host-ops boundary', () => {
  const declared = header.ops.map((op) => ({ name: op.name, params: op.params.length, suspends: op.suspends }))
  const table = createHostOps(new HostContext(new Console())) as unknown as Record<string, (...a: unknown[]) => unknown>

  it('the header declares the LKL table', () => {
    expect(declared.map((op) => op.name)).toEqual(expect.arrayContaining([
      'print', 'panic', 'sem_alloc', 'sem_free', 'sem_up', 'sem_down', 'mutex_alloc', 'mutex_free',
      'mutex_lock', 'mutex_unlock', 'thread_create', 'thread_detach', 'thread_exit', 'thread_join',
      'thread_self', 'thread_equal', 'gettid', 'tls_alloc', 'tls_free', 'tls_set', 'tls_get',
      'mem_alloc', 'mem_free', 'page_alloc', 'page_free', 'time', 'timer_alloc', 'timer_set_oneshot',
      'timer_free', 'ioremap', 'iomem_access', 'virtio_devices',
    ]))
  })

  it('the TS table has exactly the declared ops, each taking the declared number of arguments', () => {
    expect(Object.keys(table).sort()).toEqual(declared.map((op) => op.name).sort())
    for (const op of declared) expect(table[op.name]?.length, `arguments of ${op.name}`).toBe(op.params)
  })

  it('the API reaches the runtime only through the narrow interface, never the scheduler, heap or wasm memory', () => {
    const sources = apiSources()
    expect(sources.map((s) => s.file)).toEqual(expect.arrayContaining(['kernel.ts', 'syscalls.ts']))
    for (const { file, text } of sources) {
      for (const m of text.matchAll(/import\s+(.*?)\s+from\s+'([^']+)'/gs)) {
        const [, names = '', specifier = ''] = m
        expect(specifier, `${file} imports ${specifier}`).not.toMatch(/(^|\/)sched\//)
        const hostOps = /(^|\/)host-ops\/(.*)$/.exec(specifier)?.[2]
        if (hostOps !== undefined) {
          expect(names.replace(/\s+/g, ' '), `${file} imports ${names} from host-ops/${hostOps}`)
            .toMatch(API_VIEW_OF_HOST_OPS[hostOps] ?? /^$(?!.)/)
        }
      }
      // A WASI program's worker holds that program's own memory, never the kernel's.
      if (file === path.join('wasi', 'worker.ts')) continue
      expect(text, `${file} uses the wasm memory`).not.toMatch(/WebAssembly\.Memory|exports\.memory/)
    }
  })

  it('the parser reads every declaration of the header', () => {
    expect(header.ops.length, 'HOST_OP lines').toBe(headerText.match(/^HOST_OP/gm)?.length)
    expect(header.exports.length, 'export_name attributes').toBe(headerText.match(/export_name\("/g)?.length)
    expect(header.exports.find((e) => e.name === 'kernel_syscall')).toEqual(
      { name: 'kernel_syscall', cName: 'lkl_syscall', returns: 'long', params: ['long nr', 'long *args'] })
    expect(header.ops.find((op) => op.name === 'thread_create')?.params).toEqual(['void (*fn)(void *)', 'void *arg'])
  })

  it('the exports the runtime needs are the linker\'s and ones the header declares', async () => {
    const declaredExports = new Set(header.exports.map((e) => e.name))
    const fromHeader = HOST_RUNTIME_EXPORTS.filter((name) => !(LINKER_EXPORTS as readonly string[]).includes(name))
    expect(fromHeader).toEqual(['host_entry'])
    for (const name of fromHeader) expect(declaredExports.has(name), name).toBe(true)
    await expect(instantiate(await WebAssembly.compile(MEMORY_ONLY_MODULE)))
      .rejects.toThrow('the module lacks the export __stack_pointer')
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
