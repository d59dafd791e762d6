// SPDX-License-Identifier: GPL-2.0-only
/**
 * wasm/build.ts - builds the kernel: build/lkl.wasm, build/kernel-data.json and
 * build/lkl.json (facts: version, sizes, times).
 *
 *   npm run build:kernel [-- --config NAME] [--with FRAGMENT,...] [--force] [--keep-going]
 *
 * --with merges config fragments (arch/wasm/configs/fragments/NAME.config, e.g.
 * btrfs, xfs) onto the defconfig and builds a second image into a folder of its
 * own, build/with-NAME-NAME/ (names sorted), leaving build/lkl.wasm alone. Its
 * build folder starts as a copy of the default one, so make compiles only what
 * the fragments change. A fragment may bring patches of its own
 * (wasm/patches/fragments/NAME/*.patch); they may touch only the fragment's own
 * folders (a path component named NAME, e.g. fs/xfs/), files the default config
 * never compiles, so they go into the one source tree when a build names the
 * fragment and the default image and its cache key never see them.
 *
 * Steps: install the toolchain (scripts/install-toolchain.sh --kernel);
 * extract Debian's linux-source-6.12 tarball into a source tree under
 * ~/.cache/uklkl/kernel/ (one per tarball and patch set, re-extracted when
 * either changes) and apply wasm/patches/*; overlay wasm/arch/wasm as
 * arch/wasm (copying only files whose content changed, so make stays
 * incremental); configure from arch/wasm/configs/NAME_defconfig (NAME
 * "default" means defconfig); build the archives with make; link them with
 * wasm-ld (no linker script exists for wasm, so the arch's anchors.o goes
 * first and the map file is checked for the layout it relies on); check that
 * every import is a host op; run the shared finishing step of scripts/
 * (preemption fuel + asyncify + optimize); generate the API's data
 * (wasm/api-data.ts) from the built tree; write the API's TypeScript types
 * (wasm/api-types.ts) into src/generated/.
 *
 * The image is cached by a hash of every input that goes into it (tarball,
 * overlay, patches, the host-ops boundary, scripts/*.ts, this file, the toolchain
 * version, the config name, and the chosen fragments' configs and patches but
 * no other fragment's), its data by that plus the data's generator: an
 * unchanged rerun copies the cached result in seconds, and a change to the
 * data's generator alone re-runs the probe, not the finishing step.
 *
 * Limits: needs Debian's packages (apt) and about 2 GB in the cache (each
 * fragment combination adds a build folder, ~100 MB); the finishing step takes
 * minutes and ~2 GB of memory for the default config.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync,
  renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { finishModule } from '../scripts/build-wasm.js'
import { InputHash, cacheDir } from '../scripts/cache.js'
import { LLVM_MAJOR, ensureToolchain, llvmTool, wasmBuiltinsArchive } from '../scripts/toolchain.js'
import { LINKER_EXPORTS, parseHostOpsHeader } from '../src/host-ops/header.js'
import { generateKernelData } from './api-data.js'
import { writeApiTypes } from './api-types.js'

const TARBALL = '/usr/src/linux-source-6.12.tar.xz'
const TARBALL_PACKAGE = 'linux-source-6.12'
const JOBS = 2
const CLANG_TARGET = 'wasm32-unknown-unknown'
/* No function pointer is smaller than this (see link()). */
const TABLE_BASE = 4096
/* Stack of the module's own (boot) context; fibers get theirs from the host. */
const STACK_SIZE = 256 * 1024

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const overlayDir = join(repo, 'wasm', 'arch', 'wasm')
const patchDir = join(repo, 'wasm', 'patches')
/* Fragments are kept out of the overlay and out of the default image's key: only a build that names one reads it. */
const fragmentConfigDir = join(overlayDir, 'configs', 'fragments')
const fragmentPatchDir = join(patchDir, 'fragments')
const hostOpsFiles = ['host-ops.h', 'host-entry.c', 'host-selftest.c'].map((f) => join(repo, 'src', 'host-ops', f))
const outDir = join(repo, 'build')
/*
 * The cache has two keys. The image (lkl.wasm, lkl.json) is keyed by what goes
 * into it: the tarball, the overlay, the patches, the host-ops boundary, scripts/*.ts
 * (the finishing step) and this file. Its data (kernel-data.json) is keyed by
 * that plus its generator, so that changing the generator re-runs only the probe
 * (seconds), never the finishing step (minutes). The TypeScript types generated
 * from the data (wasm/api-types.ts) are not cached: they are rewritten on every
 * run, from build/kernel-data.json.
 */
/* The finishing step's code: scripts/*.ts. The installer (install-toolchain.sh) puts
 * tools in place but makes nothing of its own; the toolchain's version is hashed. */
const scriptsDir = join(repo, 'scripts')
const finishingScripts = readdirSync(scriptsDir).filter((f) => f.endsWith('.ts')).map((f) => join(scriptsDir, f))
const imageInputs = {
  trees: [overlayDir, patchDir],
  /* Not inputs of every image: a fragment's files are added to the key of the builds that name it. */
  skip: [fragmentConfigDir, fragmentPatchDir],
  files: [...hostOpsFiles, ...finishingScripts, join(repo, 'src', 'host-ops', 'suspending.json'), fileURLToPath(import.meta.url)],
}
const dataInputs = [join(repo, 'wasm', 'api-data.ts'), join(repo, 'src', 'kernel-data.ts'), join(repo, 'src', 'host-ops', 'header.ts')]

interface Options {
  config: string
  /** Config fragments merged onto the defconfig, sorted and without repeats; none for the default image. */
  fragments: string[]
  force: boolean
  keepGoing: boolean
}

interface Facts {
  kernelVersion: string
  debianPackage: string
  config: string
  fragments: string[]
  cacheKey: string
  /** build/lkl.wasm, after instrumentation, asyncify and optimization. */
  wasmBytes: number
  /** build/lkl-jspi.wasm: the same link with preemption fuel and no asyncify, for runtimes with JSPI. */
  jspiWasmBytes: number
  /** The plain link, before the finishing step. */
  linkedBytes: number
  /** Functions asyncify instrumented (those that may block), and loops given fuel checks. */
  asyncifiedFunctions: number
  preemptLoops: number
  imports: number
  exports: string[]
  makeSeconds: number
  linkSeconds: number
  finishSeconds: number
  totalSeconds: number
  patches: { name: string; lines: number }[]
  toolchain: string
  builtAt: string
}

function log(msg: string): void {
  process.stdout.write(`[build:kernel] ${msg}\n`)
}

function fail(msg: string): never {
  process.stderr.write(`[build:kernel] error: ${msg}\n`)
  process.exit(1)
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { config: 'default', fragments: [], force: false, keepGoing: false }
  const fragments = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--force') opts.force = true
    else if (a === '--keep-going') opts.keepGoing = true
    else if (a === '--config') opts.config = argv[++i] ?? fail('--config needs a name')
    else if (a === '--with') {
      const list = argv[++i] ?? fail('--with needs fragment names, e.g. --with btrfs,xfs')
      for (const name of list.split(',')) fragments.add(name)
    } else fail(`unknown argument ${a} (usage: build.ts [--config NAME] [--with FRAGMENT,...] [--force] [--keep-going])`)
  }
  const known = existsSync(fragmentConfigDir)
    ? readdirSync(fragmentConfigDir).filter((f) => f.endsWith('.config')).map((f) => f.slice(0, -'.config'.length))
    : []
  for (const name of fragments) {
    // The names become folder names (build/with-a-b/, the source tree's family): letters, digits, underscores.
    if (!/^[a-z0-9_]+$/.test(name) || !known.includes(name)) {
      fail(`no config fragment "${name}" (known: ${known.join(', ') || 'none'}; arch/wasm/configs/fragments/NAME.config)`)
    }
  }
  opts.fragments = [...fragments].sort()
  return opts
}

/** The patches in a folder, in name order. */
function patchesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.patch')).sort().map((f) => join(dir, f)) : []
}

/** Where an image is published: build/ for the default, build/[CONFIG-]with-A-B/ for fragments. */
function outputDir(opts: Options): string {
  if (opts.fragments.length === 0) return outDir
  const prefix = opts.config === 'default' ? '' : `${opts.config}-`
  return join(outDir, `${prefix}with-${opts.fragments.join('-')}`)
}

/** Run a command, inheriting stdio; throws on a non-zero exit. */
function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' })
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
}

/** Run a command and return its stdout; throws on a non-zero exit. */
function capture(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr}`)
  return r.stdout
}

function listFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...listFiles(p))
    else out.push(p)
  }
  return out.sort()
}

/** The files of an input tree, without the fragments' folders (imageInputs.skip). */
function inputFiles(dir: string): string[] {
  return listFiles(dir).filter((f) => !imageInputs.skip.some((skip) => f.startsWith(`${skip}/`)))
}

/** Copy src to dst only if the content differs; returns whether it copied. */
function syncFile(src: string, dst: string): boolean {
  const data = readFileSync(src)
  if (existsSync(dst) && readFileSync(dst).equals(data)) return false
  mkdirSync(dirname(dst), { recursive: true })
  writeFileSync(dst, data)
  return true
}

/** Extract the tarball and apply the patches, unless that tree exists already. */
function prepareSource(kernelCache: string, treeId: string, patches: string[]): string {
  const srcRoot = join(kernelCache, 'src')
  const tree = join(srcRoot, treeId)
  const ready = join(tree, '.uklkl-ready')
  if (existsSync(ready)) return join(tree, 'linux')

  // Older trees (another tarball or patch set) only take disk space, and so do their
  // build folders ("<tree>-<config>...").
  if (existsSync(srcRoot)) {
    for (const old of readdirSync(srcRoot)) {
      log(`removing stale source tree ${old} and its build folders`)
      rmSync(join(srcRoot, old), { recursive: true, force: true })
      const builds = join(kernelCache, 'build')
      if (!existsSync(builds)) continue
      for (const folder of readdirSync(builds)) {
        if (folder.startsWith(`${old}-`)) rmSync(join(builds, folder), { recursive: true, force: true })
      }
    }
  }
  const tmp = `${tree}.tmp`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  log(`extracting ${TARBALL} (~20 s)`)
  run('tar', ['-xJf', TARBALL, '-C', tmp])
  const top = readdirSync(tmp)
  if (top.length !== 1 || !top[0]) fail(`unexpected tarball layout: ${top.join(', ')}`)
  renameSync(join(tmp, top[0]), join(tmp, 'linux'))
  for (const p of patches) {
    log(`applying ${relative(repo, p)}`)
    run('patch', ['-p1', '-s', '--forward', '-i', p], join(tmp, 'linux'))
  }
  renameSync(tmp, tree)
  writeFileSync(ready, `${new Date().toISOString()}\n`)
  return join(tree, 'linux')
}

/**
 * Apply a fragment's patch to the shared tree, once per version of the patch. It may
 * touch only its fragment's folders, which the default config never compiles, so
 * the default image does not depend on it. A changed patch replaces its older
 * version: the files it touched come back from the copies kept before the first
 * patching, then the new version goes on.
 */
function applyFragmentPatch(src: string, fragment: string, patch: string): void {
  const text = readFileSync(patch, 'utf8')
  const files = [...text.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1] ?? '')
  const foreign = files.filter((f) => !f.split('/').slice(0, -1).includes(fragment))
  if (files.length === 0 || foreign.length > 0) {
    fail(`${relative(repo, patch)} may touch only ${fragment}'s own folders (a path component "${fragment}"), not: ${foreign.join(', ') || '(no files)'}`)
  }
  const state = join(src, '..', 'fragment-patches')
  const stamp = join(state, `${fragment}-${basename(patch)}.applied`)
  const version = new InputHash().text('patch', text).key()
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === version) return
  for (const f of files) {
    // The tarball's version of f, or a marker that the tarball has no f (a patch made it).
    const pristine = join(state, 'pristine', f)
    const absent = `${pristine}.absent`
    if (existsSync(pristine)) copyFileSync(pristine, join(src, f))
    else if (existsSync(absent)) rmSync(join(src, f), { force: true })
    else {
      mkdirSync(dirname(pristine), { recursive: true })
      if (existsSync(join(src, f))) copyFileSync(join(src, f), pristine)
      else writeFileSync(absent, '')
    }
  }
  log(`applying ${relative(repo, patch)}`)
  run('patch', ['-p1', '-s', '--forward', '-i', patch], src)
  writeFileSync(stamp, version)
}

/** Overlay arch/wasm and the host-ops boundary onto the tree; only changed files are written. */
function overlay(src: string): number {
  const dst = join(src, 'arch', 'wasm')
  const wanted = new Set<string>()
  let changed = 0
  for (const f of inputFiles(overlayDir)) {
    const to = join(dst, relative(overlayDir, f))
    wanted.add(to)
    if (syncFile(f, to)) changed++
  }
  for (const f of hostOpsFiles) {
    const to = join(dst, 'host', f.split('/').pop() ?? f)
    wanted.add(to)
    if (syncFile(f, to)) changed++
  }
  if (existsSync(dst)) {
    for (const f of listFiles(dst)) {
      if (!wanted.has(f)) {
        rmSync(f)
        changed++
      }
    }
  }
  return changed
}

function makeArgs(src: string, build: string): string[] {
  return [
    '-C', src, `O=${build}`, 'ARCH=wasm', `LLVM=-${LLVM_MAJOR}`,
    `CLANG_TARGET_FLAGS_wasm=${CLANG_TARGET}`,
  ]
}

/**
 * Run make, printing its errors and warnings in full and its progress
 * condensed: one line every few seconds with the count of objects built.
 */
function make(src: string, build: string, targets: string[], logFile: string, keepGoing: boolean): Promise<void> {
  const args = ['-n', '10', 'make', ...makeArgs(src, build), `-j${JOBS}`, ...(keepGoing ? ['-k'] : []), ...targets]
  // The banner names no machine or user: the same inputs give the same kernel.
  const env = { ...process.env, KBUILD_BUILD_USER: 'uklkl', KBUILD_BUILD_HOST: 'uklkl' }
  const child = spawn('nice', args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  const logLines: string[] = []
  let built = 0
  let last = ''
  let lastPrint = Date.now()
  const onLine = (line: string): void => {
    logLines.push(line)
    const m = /^\s+(CC|AR|LD|GEN|HOSTCC|HOSTLD|AS|SYSHDR|SYSTBL|UPD|WRAP|CPP|HDRINST|HDRTEST|INSTALL|LEX|YACC)\s+(.*)$/.exec(line)
    if (m) {
      if (m[1] === 'CC') built++
      last = m[2] ?? ''
      if (Date.now() - lastPrint > 5000) {
        log(`make: ${built} objects compiled (now ${last})`)
        lastPrint = Date.now()
      }
    } else if (line.trim() && !/^(make(\[\d+\])?: (Entering|Leaving)|\s+(CHKSHA1|CALL)\s)/.test(line)) {
      process.stdout.write(`${line}\n`)
    }
  }
  for (const stream of [child.stdout, child.stderr]) {
    let buf = ''
    stream.setEncoding('utf8')
    stream.on('data', (d: string) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    })
  }
  return new Promise((resolvePromise) => {
    child.on('close', (code) => {
      writeFileSync(logFile, `${logLines.join('\n')}\n`)
      log(`make ${targets.join(' ')}: ${built} objects compiled; full log in ${logFile}`)
      if (code !== 0) fail(`make exited with ${code}`)
      resolvePromise()
    })
  })
}

/** The archives the final link takes: anchors.o first, vmlinux.a whole, then the libraries. */
function linkInputs(build: string): string[] {
  const anchors = join(build, 'arch', 'wasm', 'kernel', 'anchors.o')
  const vmlinux = join(build, 'vmlinux.a')
  for (const f of [anchors, vmlinux]) if (!existsSync(f)) fail(`missing ${f}`)
  const libs = ['lib/lib.a', 'arch/wasm/lib/lib.a'].map((l) => join(build, l)).filter((l) => existsSync(l))
  if (!existsSync(wasmBuiltinsArchive)) fail(`compiler-rt builtins not found at ${wasmBuiltinsArchive}`)
  return [anchors, '--whole-archive', vmlinux, '--no-whole-archive', ...libs, wasmBuiltinsArchive]
}

function link(build: string, wasm: string, map: string): void {
  run(llvmTool('wasm-ld'), [
    '--no-entry',
    // The host gives the memory (it may hand a halted kernel's, already paged in, to a new one) and still reads it as an export.
    '--import-memory',
    '--export-memory',
    '--export=__stack_pointer',
    '--export=__heap_base',
    '--stack-first',
    '-z', `stack-size=${STACK_SIZE}`,
    // Function "addresses" are table indices. RCU's kvfree_rcu tells a
    // callback from an offset by "below 4096 is an offset": no function may
    // have an index that small.
    `--table-base=${TABLE_BASE}`,
    `-Map=${map}`,
    '-o', wasm,
    ...linkInputs(build),
  ])
}

interface MapSegment {
  name: string
  addr: number
  size: number
  /** Symbols of the segment with their addresses. */
  symbols: Map<string, number>
}

/** Output data segments of a wasm-ld map file (columns: Addr Off Size Out In Symbol). */
function readMap(map: string): MapSegment[] {
  const segments: MapSegment[] = []
  let current: MapSegment | undefined
  for (const line of readFileSync(map, 'utf8').split('\n')) {
    const m = /^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+) (\s*)(.*)$/.exec(line)
    if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined || m[4] === undefined) continue
    const depth = m[3].length
    if (depth === 0) {
      current = { name: m[4], addr: parseInt(m[1], 16), size: parseInt(m[2], 16), symbols: new Map() }
      segments.push(current)
    } else if (depth >= 16 && current) {
      current.symbols.set(m[4], parseInt(m[1], 16))
    }
  }
  return segments
}

/*
 * The layout anchors.c relies on (see its header): each table is a run of
 * consecutive output segments, the start anchor at the start of the first,
 * the end anchor at the end of the last. Checked on every link.
 */
const TABLES: { start: string; end: string; sections: string[] }[] = [
  {
    start: '__initcall_start',
    end: '__initcall_end',
    sections: ['early', '0', '0s', '1', '1s', '2', '2s', '3', '3s', '4', '4s', '5', '5s', 'rootfs', '6', '6s', '7', '7s']
      .map((l) => `.initcall${l}.init`).concat(['.initcall.end']),
  },
  { start: '__con_initcall_start', end: '__con_initcall_end', sections: ['.con_initcall.init', '.con_initcall.end'] },
  { start: '__setup_start', end: '__setup_end', sections: ['.init.setup', '.init.setup.end'] },
  { start: '__start___param', end: '__stop___param', sections: ['__param', '__param.end'] },
  { start: '__start___modver', end: '__stop___modver', sections: ['__modver', '__modver.end'] },
  { start: '__start___ex_table', end: '__stop___ex_table', sections: ['__ex_table', '__ex_table.end'] },
]

function checkLayout(map: string): void {
  const segments = readMap(map)
  // __start_rodata .. __end_rodata: all static data (anchors.c).
  const rodata = segments.find((seg) => seg.name === '.rodata')
  const bss = segments.find((seg) => seg.name === '.bss')
  if (!rodata || rodata.symbols.get('__start_rodata') !== rodata.addr) fail('link layout: __start_rodata is not at the start of .rodata')
  if (!bss || bss.symbols.get('__end_rodata') !== bss.addr) fail('link layout: __end_rodata is not at the start of .bss')
  for (const t of TABLES) {
    const idx = t.sections.map((s) => segments.findIndex((seg) => seg.name === s))
    const missing = t.sections.filter((_, i) => idx[i] === -1)
    if (missing.length) fail(`link layout: ${t.start}: no output segment ${missing.join(', ')}`)
    const segs = idx.map((i) => segments[i] as MapSegment)
    for (let i = 1; i < segs.length; i++) {
      const a = segs[i - 1] as MapSegment
      const b = segs[i] as MapSegment
      if (idx[i] !== (idx[i - 1] as number) + 1 || a.addr + a.size !== b.addr) {
        fail(`link layout: ${b.name} does not follow ${a.name} directly (anchors.c's assumption broke)`)
      }
    }
    const first = segs[0] as MapSegment
    const last = segs[segs.length - 1] as MapSegment
    if (first.symbols.get(t.start) !== first.addr) fail(`link layout: ${t.start} is not at the start of ${first.name}`)
    if (last.symbols.get(t.end) !== last.addr + last.size) fail(`link layout: ${t.end} is not at the end of the table`)
  }
}

/** Every export host-ops.h declares, and the linker's: the host drives the kernel through them. */
function requiredExports(): string[] {
  const header = parseHostOpsHeader(readFileSync(join(repo, 'src', 'host-ops', 'host-ops.h'), 'utf8'))
  return [...LINKER_EXPORTS, ...header.exports.map((e) => e.name)]
}

/** Every import must be a host op (or the memory the host gives), and every export the host drives must be there. */
function checkModule(bytes: Uint8Array<ArrayBuffer>): { imports: number; exports: string[] } {
  const mod = new WebAssembly.Module(bytes)
  const imports = WebAssembly.Module.imports(mod).filter((i) => !(i.module === 'env' && i.name === 'memory' && i.kind === 'memory'))
  const stray = imports.filter((i) => i.module !== 'host' || i.kind !== 'function')
  if (stray.length) fail(`imports that are not host ops: ${stray.map((i) => `${i.module}.${i.name}`).join(', ')}`)
  const exports = WebAssembly.Module.exports(mod).map((e) => e.name)
  const absent = requiredExports().filter((e) => !exports.includes(e))
  if (absent.length) fail(`missing exports: ${absent.join(', ')}`)
  return { imports: imports.length, exports }
}

/* The image's files, cached under its key; the data's, under a folder of it named by the data key. */
const IMAGE_OUTPUTS = ['lkl.wasm', 'lkl.names', 'lkl-jspi.wasm', 'lkl-jspi.names', 'lkl.json']
const DATA_OUTPUT = 'kernel-data.json'
/* Cached results kept (each image is 8-25 MB, data ~0.1 MB): the default image and the fragment combinations the bench builds fit. */
const KEEP_OUTPUTS = 8

/** Drop all but the newest entries of a cache folder (entries whose name passes keep). */
function pruneOutputs(outRoot: string, keep: (name: string) => boolean = () => true): void {
  const entries = readdirSync(outRoot)
    .filter(keep)
    .map((name) => ({ name, mtime: statSync(join(outRoot, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
  for (const old of entries.slice(KEEP_OUTPUTS)) rmSync(join(outRoot, old.name), { recursive: true, force: true })
}

function publish(cachedImage: string, cachedData: string, to: string): void {
  mkdirSync(to, { recursive: true })
  for (const f of IMAGE_OUTPUTS) copyFileSync(join(cachedImage, f), join(to, f))
  copyFileSync(join(cachedData, DATA_OUTPUT), join(to, DATA_OUTPUT))
}

/**
 * Hold the cache's build lock until the process exits: two builds at once (two
 * test runs, a test run and a bench) would write one tree and one output folder.
 * A lock left by a process that has died is taken over.
 */
async function lockCache(kernelCache: string): Promise<void> {
  const lock = join(kernelCache, 'build.lock')
  let told = false
  for (;;) {
    try {
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), `${process.pid}\n`)
      process.on('exit', () => rmSync(lock, { recursive: true, force: true }))
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = Number(readFileSync(join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }).trim())
    let alive = false
    try {
      if (holder > 0) process.kill(holder, 0)
      alive = holder > 0
    } catch {
      alive = false
    }
    if (!alive && holder > 0) {
      log(`taking over the build lock of process ${holder}, which has ended`)
      rmSync(lock, { recursive: true, force: true })
      continue
    }
    if (!told) log(`waiting for the kernel build of process ${holder || 'starting'} to finish`)
    told = true
    await new Promise((r) => setTimeout(r, 1000))
  }
}

/** The defconfig file of a config name: "default" is arch/wasm/configs/defconfig. */
function defconfigName(config: string): string {
  return config === 'default' ? 'defconfig' : `${config}_defconfig`
}

/** What one build makes, and from what. */
interface Plan {
  config: string
  fragments: string[]
  /** The patches the source tree is made with: wasm/patches/*. */
  patches: string[]
  /** The chosen fragments' own patches (wasm/patches/fragments/NAME/*), by fragment. */
  fragmentPatches: { fragment: string, patch: string }[]
  /** The source tree's folder name: a hash of the tarball and the patches. */
  treeId: string
  /** The build folder's name (O=): one per tree, config and fragment list. */
  buildName: string
  /** The default image's build folder name of this tree and config: where a fragment build starts from. */
  baseBuildName: string
  /** Where the image is published. */
  outDir: string
}

function makePlan(opts: Options, tarballId: string): Plan {
  const patches = patchesIn(patchDir)
  const fragmentPatches = opts.fragments.flatMap((fragment) =>
    patchesIn(join(fragmentPatchDir, fragment)).map((patch) => ({ fragment, patch })))
  const treeHash = new InputHash().text('tarball', tarballId)
  for (const p of patches) treeHash.file(p)
  const treeId = treeHash.key().slice(0, 16)
  const baseBuildName = `${treeId}-${opts.config}`
  const buildName = opts.fragments.length > 0 ? `${baseBuildName}-with-${opts.fragments.join('-')}` : baseBuildName
  return { config: opts.config, fragments: opts.fragments, patches, fragmentPatches, treeId, buildName, baseBuildName, outDir: outputDir(opts) }
}

/** The fragment files of a build (arch/wasm/configs/fragments/NAME.config), in merge order. */
function fragmentFiles(plan: Plan): string[] {
  return plan.fragments.map((name) => join(fragmentConfigDir, `${name}.config`))
}

/**
 * Each fragment line (CONFIG_X=v, or "# CONFIG_X is not set") must be in the final
 * .config: merge_config.sh only warns when a symbol's dependencies drop it, and a
 * dropped CONFIG_XFS_FS would make an image that builds, boots and lacks XFS.
 */
function checkFragments(plan: Plan, configFile: string): void {
  const final = new Set(readFileSync(configFile, 'utf8').split('\n'))
  const lost: string[] = []
  for (const file of fragmentFiles(plan)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const set = /^CONFIG_\w+=/.test(line)
      const unset = /^# (CONFIG_\w+) is not set$/.exec(line)
      // An unset symbol may also be absent: its menu is not visible at all.
      const name = unset?.[1]
      if (set ? !final.has(line) : name !== undefined && [...final].some((l) => l.startsWith(`${name}=`))) {
        lost.push(`${line} (${relative(repo, file)})`)
      }
    }
  }
  if (lost.length > 0) fail(`the final .config lacks what the fragments ask for (unmet dependencies?):\n  ${lost.join('\n  ')}`)
}

interface Tree {
  /** The patched kernel source with the current overlay. */
  src: string
  /** Its configured build folder (O=). */
  build: string
  kernelVersion: string
}

/** Extract and patch the source if needed, overlay arch/wasm, and configure the build folder. */
function prepareTree(kernelCache: string, plan: Plan, debianPackage: string): Tree {
  const defconfig = defconfigName(plan.config)
  const src = prepareSource(kernelCache, plan.treeId, plan.patches)
  for (const { fragment, patch } of plan.fragmentPatches) applyFragmentPatch(src, fragment, patch)
  const changed = overlay(src)
  log(`overlay: ${changed} file(s) changed in arch/wasm`)
  const kernelVersion = capture('make', ['-s', '-C', src, 'kernelversion']).trim()
  const withText = plan.fragments.length > 0 ? ` with fragments ${plan.fragments.join(', ')}` : ''
  log(`Linux ${kernelVersion} (Debian ${TARBALL_PACKAGE} ${debianPackage}), config ${defconfig}${withText}`)

  const build = join(kernelCache, 'build', plan.buildName)
  const base = join(kernelCache, 'build', plan.baseBuildName)
  if (!existsSync(build) && plan.fragments.length > 0 && existsSync(join(base, '.config'))) {
    // Kbuild rebuilds an object when a CONFIG_ symbol it reads changes (fixdep) or its
    // command line does: from the default build's objects, make compiles only what the
    // fragments add or change (minutes, not a whole kernel). An object a killed build
    // left half-written has no .cmd file, so make rebuilds it.
    log(`starting from the default build's objects (${plan.baseBuildName})`)
    rmSync(`${build}.tmp`, { recursive: true, force: true })
    run('cp', ['-a', base, `${build}.tmp`])
    rmSync(join(`${build}.tmp`, '.uklkl-defconfig'), { force: true })
    renameSync(`${build}.tmp`, build)
  }
  mkdirSync(build, { recursive: true })
  const configStamp = join(build, '.uklkl-defconfig')
  const configHash = new InputHash().file(join(overlayDir, 'configs', defconfig))
  for (const f of fragmentFiles(plan)) configHash.file(f)
  const defconfigHash = configHash.key()
  if (!existsSync(join(build, '.config')) || !existsSync(configStamp) ||
      readFileSync(configStamp, 'utf8') !== defconfigHash) {
    log(`configuring from ${defconfig}${withText}`)
    run('make', [...makeArgs(src, build), defconfig])
    if (plan.fragments.length > 0) {
      // The kernel's own merge: the fragments' lines replace the defconfig's, then
      // olddefconfig settles what they select. It writes temporary files into its cwd.
      run(join(src, 'scripts', 'kconfig', 'merge_config.sh'), ['-m', '-O', build, join(build, '.config'), ...fragmentFiles(plan)], build)
      run('make', [...makeArgs(src, build), 'olddefconfig'])
      checkFragments(plan, join(build, '.config'))
    }
    writeFileSync(configStamp, defconfigHash)
  }
  return { src, build, kernelVersion }
}

/** kernel-data.json from a built tree (its generated syscall headers and installed uapi), into cachedData. */
async function generateData(tree: Tree, cachedData: string): Promise<void> {
  log('generating kernel-data.json')
  const data = await generateKernelData({
    kernelVersion: tree.kernelVersion,
    srcTree: tree.src,
    unistdH: join(tree.build, 'arch/wasm/include/generated/uapi/asm/unistd_32.h'),
    syscallTableH: join(tree.build, 'arch/wasm/include/generated/asm/syscall_table_32.h'),
    uapiInclude: join(tree.build, 'usr/include'),
    archSources: listFiles(join(overlayDir, 'kernel')).filter((f) => f.endsWith('.c')),
  })
  mkdirSync(cachedData, { recursive: true })
  writeFileSync(join(cachedData, DATA_OUTPUT), `${JSON.stringify(data)}\n`)
}

/**
 * The TypeScript types of the published data (src/generated/, compiled with the
 * package). Only the default image writes them: a fragment adds filesystems, not
 * syscalls, and loadKernelImage checks any image against these types.
 */
function generateTypes(plan: Plan): void {
  if (plan.outDir !== outDir) return
  const file = writeApiTypes(join(outDir, DATA_OUTPUT))
  log(`${relative(repo, file.path)} ${file.changed ? 'written' : 'unchanged'}`)
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const clangVersion = ensureToolchain(true)

  const defconfig = defconfigName(opts.config)
  if (!existsSync(join(overlayDir, 'configs', defconfig))) fail(`no arch/wasm/configs/${defconfig}`)

  const debianPackage = capture('dpkg-query', ['-W', '-f=${Version}', TARBALL_PACKAGE]).trim()
  const tarStat = statSync(TARBALL)
  // The package version names the tarball; size and mtime catch a replaced file cheaply.
  const tarballId = new InputHash().text('tarball', `${TARBALL_PACKAGE} ${debianPackage} ${tarStat.size} ${tarStat.mtimeMs}`).key()
  const plan = makePlan(opts, tarballId)
  const toolchain = `${clangVersion}; ${capture(llvmTool('wasm-ld'), ['--version']).split('\n')[0] ?? ''}`
  const key = new InputHash().text('tarball', tarballId).text('toolchain', toolchain).text('config', opts.config)
  for (const t of imageInputs.trees) for (const f of inputFiles(t)) key.file(f)
  for (const f of imageInputs.files) key.file(f)
  if (plan.fragments.length > 0) {
    key.text('fragments', plan.fragments.join(','))
    for (const f of fragmentFiles(plan)) key.file(f)
    for (const { patch } of plan.fragmentPatches) key.file(patch)
  }
  const cacheKey = key.key()
  const published = relative(repo, join(plan.outDir, 'lkl.wasm'))
  const dataKey = new InputHash().text('image', cacheKey)
  for (const f of dataInputs) dataKey.file(f)

  const kernelCache = cacheDir('kernel')
  await lockCache(kernelCache)
  // Timed from here: waiting for another build's lock is not this build's time.
  const t0 = Date.now()
  const cached = join(kernelCache, 'out', cacheKey)
  const cachedData = join(cached, `data-${dataKey.key()}`)
  if (!opts.force && IMAGE_OUTPUTS.every((f) => existsSync(join(cached, f)))) {
    if (!existsSync(join(cachedData, DATA_OUTPUT))) {
      log(`image unchanged (${cacheKey}), its data generator changed: regenerating the data only`)
      const tree = prepareTree(kernelCache, plan, debianPackage)
      // The data reads the generated syscall headers and the installed uapi, nothing the image step builds.
      await make(tree.src, tree.build, ['asm-generic', 'headers_install'], join(tree.build, 'make-data.log'), false)
      await generateData(tree, cachedData)
      pruneOutputs(cached, (name) => name.startsWith('data-'))
    }
    publish(cached, cachedData, plan.outDir)
    generateTypes(plan)
    const facts = JSON.parse(readFileSync(join(cached, 'lkl.json'), 'utf8')) as Facts
    log(`unchanged image (${cacheKey}): Linux ${facts.kernelVersion}, ${facts.wasmBytes} bytes -> ${published} ` +
      `in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    return
  }

  const tree = prepareTree(kernelCache, plan, debianPackage)
  const { src, build, kernelVersion } = tree

  const tMake = Date.now()
  await make(src, build, ['wasm_archives', 'headers_install'], join(build, 'make.log'), opts.keepGoing)
  const makeSeconds = (Date.now() - tMake) / 1000

  const tLink = Date.now()
  mkdirSync(cached, { recursive: true })
  const linked = join(cached, 'lkl.linked.wasm')
  const map = join(build, 'lkl.map')
  log('linking lkl.linked.wasm')
  link(build, linked, map)
  checkLayout(map)
  const linkedBytes = new Uint8Array(readFileSync(linked))
  checkModule(linkedBytes)
  const linkSeconds = (Date.now() - tLink) / 1000

  // The shared finishing step: -O2, preemption fuel, asyncify, -Oz. Every loop of the
  // kernel gets fuel, and its check calls the kernel's preemption point (cpu.c),
  // where the task may take interrupts and be preempted: a task spinning in any
  // loop lets the others run. That makes every function with a loop (and its
  // callers) one that may suspend, so asyncify instruments it too. The function
  // names go to lkl.names, not into lkl.wasm (192 KB): the runtime names the
  // frames of error stacks from it.
  const tFinish = Date.now()
  log(`instrumenting, asyncifying and optimizing ${linkedBytes.length} bytes (minutes; single-threaded)`)
  const finished = finishModule(linkedBytes, { preempt: true, preemptPoint: 'wasm_preempt_point', asyncify: true, names: 'file' })
  const { imports, exports } = checkModule(finished.bytes)
  writeFileSync(join(cached, 'lkl.wasm'), finished.bytes)
  writeFileSync(join(cached, 'lkl.names'), finished.names ?? fail('the finishing step returned no names file'))
  // The JSPI image: the same link and fuel, no asyncify (its fibers are JSPI stacks; src/sched/jspi-trampoline.ts).
  log('finishing the JSPI image (no asyncify)')
  const jspi = finishModule(linkedBytes, { preempt: true, preemptPoint: 'wasm_preempt_point', asyncify: false, names: 'file' })
  checkModule(jspi.bytes)
  writeFileSync(join(cached, 'lkl-jspi.wasm'), jspi.bytes)
  writeFileSync(join(cached, 'lkl-jspi.names'), jspi.names ?? fail('the finishing step returned no names file'))
  const finishSeconds = (Date.now() - tFinish) / 1000

  await generateData(tree, cachedData)

  const facts: Facts = {
    kernelVersion,
    debianPackage: `${TARBALL_PACKAGE} ${debianPackage}`,
    config: defconfig,
    fragments: plan.fragments,
    cacheKey,
    wasmBytes: finished.bytes.length,
    jspiWasmBytes: jspi.bytes.length,
    linkedBytes: linkedBytes.length,
    asyncifiedFunctions: finished.asyncified ?? 0,
    preemptLoops: finished.preempt?.loops ?? 0,
    imports,
    exports,
    makeSeconds,
    linkSeconds,
    finishSeconds,
    totalSeconds: (Date.now() - t0) / 1000,
    patches: [...plan.patches, ...plan.fragmentPatches.map((f) => f.patch)].map((p) => ({
      name: relative(patchDir, p),
      lines: readFileSync(p, 'utf8').split('\n').length - 1,
    })),
    toolchain,
    builtAt: new Date().toISOString(),
  }
  writeFileSync(join(cached, 'lkl.json'), `${JSON.stringify(facts, null, 2)}\n`)
  publish(cached, cachedData, plan.outDir)
  generateTypes(plan)
  pruneOutputs(join(kernelCache, 'out'))
  log(`Linux ${kernelVersion}: ${published} ${facts.wasmBytes} bytes (linked ${linkedBytes.length}), ` +
    `JSPI image ${jspi.bytes.length} bytes, ${imports} host imports; make ${makeSeconds.toFixed(0)} s, link ${linkSeconds.toFixed(1)} s, ` +
    `finish ${finishSeconds.toFixed(0)} s, total ${facts.totalSeconds.toFixed(0)} s`)
}

await main()
