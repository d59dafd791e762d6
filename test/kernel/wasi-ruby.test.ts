// SPDX-License-Identifier: MIT
// Ruby on the kernel: ruby.wasm of @ruby/3.4-wasm-wasi (a reactor whose JS
// bindings come from the package's RubyVM, run through runWasi's glue) runs
// files.rb, which makes a tree in a kernel directory; the tree is read back
// through k.fs and compared with the one the same binary and glue leave under
// node:wasi on a host temp dir, and so are stdout, stderr and the exit code.
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import fsp from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { WASI } from 'node:wasi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WasiModuleError, startKernel } from '../../src/index.js'
import runRuby from '../fixtures/wasi/ruby-glue.js'
import { type Ran, runKernel, snapshot } from '../fixtures/wasi/support.js'

const GLUE = new URL('../fixtures/wasi/ruby-glue.ts', import.meta.url)
const SCRIPT = fileURLToPath(new URL('../fixtures/wasi/files.rb', import.meta.url))
const ARGS = ['ruby', '/data/files.rb', '/data']
let work = ''
let ruby: WebAssembly.Module

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-wasi-ruby-'))
  const wasm = createRequire(import.meta.url).resolve('@ruby/3.4-wasm-wasi/dist/ruby.wasm')
  ruby = new WebAssembly.Module(readFileSync(wasm))
})

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** ruby.wasm under node:wasi with /data on data, stdio through host files. */
async function runNodeRuby(data: string): Promise<Ran> {
  const out = path.join(work, 'stdout')
  const err = path.join(work, 'stderr')
  const fds = { stdout: openSync(out, 'w'), stderr: openSync(err, 'w') }
  try {
    const wasi = new WASI({ version: 'preview1', args: ARGS, env: {}, preopens: { '/data': data }, returnOnExit: true, ...fds })
    const code = await runRuby(ruby, wasi, ARGS)
    return { code, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') }
  } finally {
    closeSync(fds.stdout)
    closeSync(fds.stderr)
  }
}

describe('Ruby (ruby.wasm of @ruby/3.4-wasm-wasi) as a kernel process', () => {
  it('a script writing files leaves the tree and output node:wasi gets from the same binary', async () => {
    const host = mkdtempSync(path.join(work, 'data-'))
    copyFileSync(SCRIPT, path.join(host, 'files.rb'))
    const expected = await runNodeRuby(host)

    await using k = await startKernel()
    await k.fs.mkdir('/data')
    await k.fs.writeFile('/data/files.rb', readFileSync(SCRIPT))
    const got = await runKernel(k, ruby, { args: ARGS, preopens: { '/data': '/data' }, glue: GLUE })
    expect(got).toEqual(expected)
    expect(got.code).toBe(3)
    expect(got.stdout).toMatch(/^\["bytes\.bin", "hello\.txt", "link", "nested", "squares\.csv"\]\nHello from Ruby 3\.4\.\d+\nappended\n262144\n/)
    expect(got.stdout).toContain('/data/ruby/nested/renamed\n')
    expect(got.stdout).toMatch(/true\nfalse\nhello\.txt\nErrno::ENOENT\n$/)
    expect(got.stderr).toMatch(/done\n$/)

    const tree = await snapshot(k.fs, '/data/ruby')
    expect(tree).toEqual(await snapshot(fsp, path.join(host, 'ruby')))
    expect(Object.keys(tree)).toEqual(['bytes.bin', 'hello.txt', 'link', 'nested', 'nested/renamed', 'squares.csv'])
    expect(await k.fs.readFile('/data/ruby/nested/renamed', 'utf8')).toBe('moved\n')
    expect((await k.fs.readFile('/data/ruby/squares.csv', 'utf8')).split('\n')[499]).toBe('500,250000')

    // Without its glue the module is refused, naming what it imports besides WASI: the bindings of RubyVM.
    const bare = await k.runWasi(ruby).catch((e: unknown) => e)
    expect(bare).toBeInstanceOf(WasiModuleError)
    const imports = bare instanceof WasiModuleError ? bare.imports : []
    expect(new Set(imports.map((i) => i.split('.')[0]))).toEqual(new Set(['rb-js-abi-host', 'canonical_abi']))
    expect(imports).toHaveLength(24)
  })
})
