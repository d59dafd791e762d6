// SPDX-License-Identifier: MIT
/**
 * fs-oracle.ts - k.fs against node:fs/promises: one sequence of fs/promises calls
 * runs on Node in a host directory and on k.fs in a kernel directory, and each
 * step's outcome (its result, or its error's code, errno, syscall, path, dest and
 * message) must be the same on both. Used by test/kernel/fs.test.ts, with
 * fast-check generating and shrinking the sequences.
 *
 * Both sides are driven through one small interface (FsApi) that Node's
 * fs/promises and KernelFs both satisfy, so a step is the same code on both.
 * Paths are a small set of names (those of fs-differential.ts, which collide and
 * so raise most errors) under each side's base; results and errors are compared
 * with the base cut out of every path and message.
 *
 * What is compared, and what is not (with why), beyond fs-differential.ts's
 * rules (no uid/gid or inode numbers; directory sizes only when both sides are
 * tmpfs; modes keep the owner's rwx; relative symlink targets with at most one
 * ".."; roots one level below a private parent):
 * - times only right after utimes (the two clocks differ), in ns, ms and Dates;
 * - no chown (a non-root host user may not give files away);
 * - rm's recursive removals run Node's children in parallel: with more than one
 *   failing child the first error may differ, which the paths here never cause.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { LINK_TARGETS, PATHS } from './fs-differential.js'

type FsPath = typeof PATHS[number]
const OPEN_FLAGS = ['r', 'r+', 'w', 'wx', 'w+', 'a', 'a+', 'ax'] as const
const WRITE_FLAGS = ['w', 'wx', 'a', 'r+', 'ax'] as const

export type FsCall =
  | { op: 'writeFile', path: FsPath, length: number, fill: number, flag: typeof WRITE_FLAGS[number], mode: number }
  | { op: 'appendFile', path: FsPath, length: number, fill: number }
  | { op: 'readFile' | 'readdir' | 'readdirTypes' | 'stat' | 'lstat' | 'unlink' | 'rmdir' | 'readlink', path: FsPath }
  | { op: 'mkdir', path: FsPath, recursive: boolean, mode: number }
  | { op: 'rename' | 'link', from: FsPath, to: FsPath }
  | { op: 'copyFile', from: FsPath, to: FsPath, excl: boolean }
  | { op: 'symlink', target: string, path: FsPath }
  | { op: 'rm', path: FsPath, recursive: boolean, force: boolean }
  | { op: 'chmod', path: FsPath, mode: number }
  | { op: 'truncate', path: FsPath, length: number }
  | { op: 'access', path: FsPath, mode: number }
  | { op: 'utimes', path: FsPath, atime: number, mtime: number }
  | { op: 'open', path: FsPath, flags: typeof OPEN_FLAGS[number] }
  | { op: 'read', slot: number, length: number, position: number | null }
  | { op: 'write', slot: number, length: number, fill: number, position: number | null }
  | { op: 'ftruncate' | 'fstat' | 'close', slot: number, length?: number }

// ---- what both sides offer ----------------------------------------------------------

interface StatLike {
  mode: number
  nlink: number
  size: number
  atimeMs: number
  mtimeMs: number
  atime: Date
  mtime: Date
  isFile(): boolean
}

interface BigStatLike {
  atimeNs: bigint
  mtimeNs: bigint
  atimeMs: bigint
}

interface DirentLike {
  name: string
  parentPath: string
  isFile(): boolean
  isDirectory(): boolean
  isSymbolicLink(): boolean
}

export interface HandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>
  truncate(len: number): Promise<void>
  stat(): Promise<StatLike>
  close(): Promise<void>
}

/** The calls of node:fs/promises the sequences make; KernelFs has them all. */
export interface FsApi {
  writeFile(path: string, data: Uint8Array, options: { flag: string, mode: number }): Promise<void>
  appendFile(path: string, data: Uint8Array): Promise<void>
  readFile(path: string): Promise<Uint8Array>
  mkdir(path: string, options: { recursive: boolean, mode: number }): Promise<string | undefined>
  readdir(path: string): Promise<string[]>
  readdir(path: string, options: { withFileTypes: true }): Promise<DirentLike[]>
  stat(path: string): Promise<StatLike>
  stat(path: string, options: { bigint: true }): Promise<BigStatLike & { atime: Date, mtime: Date }>
  lstat(path: string): Promise<StatLike>
  rename(from: string, to: string): Promise<void>
  rm(path: string, options: { recursive: boolean, force: boolean }): Promise<void>
  rmdir(path: string): Promise<void>
  unlink(path: string): Promise<void>
  link(from: string, to: string): Promise<void>
  symlink(target: string, path: string): Promise<void>
  readlink(path: string): Promise<string>
  chmod(path: string, mode: number): Promise<void>
  truncate(path: string, len: number): Promise<void>
  access(path: string, mode: number): Promise<void>
  copyFile(from: string, to: string, mode: number): Promise<void>
  utimes(path: string, atime: number, mtime: number): Promise<void>
  open(path: string, flags: string): Promise<HandleLike>
}

/** An error as compared: Node's fields, with the side's base cut out. */
export interface ErrorView {
  code: unknown
  errno: unknown
  syscall: unknown
  path: unknown
  dest: unknown
  message: string
}

export type Outcome = { ok: unknown } | { error: ErrorView } | { skipped: string }

// ---- the generator ------------------------------------------------------------------

const path$ = fc.constantFrom(...PATHS)
const mode$ = fc.integer({ min: 0, max: 0o77 }).map((m) => 0o700 | m)
const slot$ = fc.nat({ max: 5 })
const length$ = fc.integer({ min: 0, max: 300 })
const fill$ = fc.integer({ min: 0, max: 255 })
const position$ = fc.option(fc.integer({ min: 0, max: 2000 }), { freq: 2 })
/** Seconds with a fraction: whole ms, or any double (which tests the split into seconds and ns). */
const time$ = fc.oneof(
  fc.integer({ min: 0, max: 4_000_000_000_000 }).map((ms) => ms / 1000),
  fc.double({ min: 0, max: 4e9, noNaN: true }),
)

export const fsCall: fc.Arbitrary<FsCall> = fc.oneof(
  { weight: 5, arbitrary: fc.record({
    op: fc.constant('writeFile' as const), path: path$, length: length$, fill: fill$, flag: fc.constantFrom(...WRITE_FLAGS), mode: mode$,
  }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('appendFile' as const), path: path$, length: length$, fill: fill$ }) },
  { weight: 6, arbitrary: fc.record({
    op: fc.constantFrom('readFile' as const, 'readdir' as const, 'readdirTypes' as const, 'stat' as const, 'lstat' as const,
      'unlink' as const, 'rmdir' as const, 'readlink' as const),
    path: path$,
  }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('mkdir' as const), path: path$, recursive: fc.boolean(), mode: mode$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('rename' as const, 'link' as const), from: path$, to: path$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('copyFile' as const), from: path$, to: path$, excl: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('symlink' as const), target: fc.constantFrom(...LINK_TARGETS), path: path$ }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('rm' as const), path: path$, recursive: fc.boolean(), force: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('chmod' as const), path: path$, mode: mode$ }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), path: path$, length: length$ }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('access' as const), path: path$, mode: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('utimes' as const), path: path$, atime: time$, mtime: time$ }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('open' as const), path: path$, flags: fc.constantFrom(...OPEN_FLAGS) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('read' as const), slot: slot$, length: fc.integer({ min: 1, max: 300 }), position: position$ }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('write' as const), slot: slot$, length: length$, fill: fill$, position: position$ }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ftruncate' as const), slot: slot$, length: length$ }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('fstat' as const, 'close' as const), slot: slot$ }) },
)

export const fsCalls = fc.array(fsCall, { minLength: 1, maxLength: 60, size: 'max' })

// ---- one side ------------------------------------------------------------------------

/** File type bits of st_mode (Linux's ABI). */
const S_IFMT = 0o170000
const TYPES: Readonly<Record<number, string>> = { 0o100000: 'file', 0o040000: 'dir', 0o120000: 'symlink' }

function pattern(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => (fill + i) & 0xff)
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
}

/** Cut base out of every path in value (strings, arrays and plain objects). */
function cut(value: unknown, base: string): unknown {
  if (typeof value === 'string') return base === '' ? value : value.split(base).join('')
  if (Array.isArray(value)) return value.map((v) => cut(v, base))
  return value
}

/** An error's comparable view, or null for errors that are not Node-shaped fs errors (bugs: they fail the run). */
export function errorView(error: unknown, base: string): ErrorView | null {
  if (!(error instanceof Error) || !('code' in error) || !('syscall' in error)) return null
  const e = error as Error & Record<string, unknown>
  return {
    code: e.code, errno: e.errno, syscall: e.syscall, path: cut(e.path, base), dest: cut(e.dest, base),
    message: String(cut(e.message, base)),
  }
}

class Skip extends Error {}

/** Runs FsCalls on an FsApi under base (base + '/' + name for each path); open handles by slot. */
export class Side {
  readonly #api: FsApi
  readonly #base: string
  /** Cut out of results and errors: what the other side's base differs by. */
  readonly #cut: string
  readonly #handles: HandleLike[] = []
  readonly #compareDirSizes: boolean

  constructor(api: FsApi, base: string, cutBase: string, compareDirSizes: boolean) {
    this.#api = api
    this.#base = base
    this.#cut = cutBase
    this.#compareDirSizes = compareDirSizes
  }

  async run(call: FsCall): Promise<Outcome> {
    try {
      return { ok: cut(await this.#run(call), this.#cut) }
    } catch (error) {
      if (error instanceof Skip) return { skipped: error.message }
      const view = errorView(error, this.#cut)
      if (view === null) throw error
      return { error: view }
    }
  }

  #path(p: string): string {
    return `${this.#base}/${p}`
  }

  #handle(slot: number): HandleLike {
    const handle = this.#handles[slot % Math.max(1, this.#handles.length)]
    if (handle === undefined) throw new Skip('no open file')
    return handle
  }

  #stat(st: StatLike): unknown {
    const type = TYPES[st.mode & S_IFMT] ?? 'other'
    return { type, perm: st.mode & 0o7777, nlink: st.nlink, ...(type !== 'dir' || this.#compareDirSizes ? { size: st.size } : {}) }
  }

  async #run(call: FsCall): Promise<unknown> {
    const fs = this.#api
    switch (call.op) {
      case 'writeFile':
        return fs.writeFile(this.#path(call.path), pattern(call.length, call.fill), { flag: call.flag, mode: call.mode })
      case 'appendFile':
        return fs.appendFile(this.#path(call.path), pattern(call.length, call.fill))
      case 'readFile':
        return hex(await fs.readFile(this.#path(call.path)))
      case 'readdir':
        return fs.readdir(this.#path(call.path))
      case 'readdirTypes':
        return (await fs.readdir(this.#path(call.path), { withFileTypes: true })).map((d) =>
          `${d.name}:${d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : 'other'} in ${d.parentPath}`)
      case 'stat':
        return this.#stat(await fs.stat(this.#path(call.path)))
      case 'lstat':
        return this.#stat(await fs.lstat(this.#path(call.path)))
      case 'unlink':
        return fs.unlink(this.#path(call.path))
      case 'rmdir':
        return fs.rmdir(this.#path(call.path))
      case 'readlink':
        return fs.readlink(this.#path(call.path))
      case 'mkdir':
        return fs.mkdir(this.#path(call.path), { recursive: call.recursive, mode: call.mode })
      case 'rename':
        return fs.rename(this.#path(call.from), this.#path(call.to))
      case 'link':
        return fs.link(this.#path(call.from), this.#path(call.to))
      case 'copyFile':
        return fs.copyFile(this.#path(call.from), this.#path(call.to), call.excl ? 1 : 0)
      case 'symlink':
        return fs.symlink(call.target, this.#path(call.path))
      case 'rm':
        return fs.rm(this.#path(call.path), { recursive: call.recursive, force: call.force })
      case 'chmod':
        return fs.chmod(this.#path(call.path), call.mode)
      case 'truncate':
        return fs.truncate(this.#path(call.path), call.length)
      case 'access':
        return fs.access(this.#path(call.path), call.mode)
      case 'utimes': {
        await fs.utimes(this.#path(call.path), call.atime, call.mtime)
        const st = await fs.stat(this.#path(call.path), { bigint: true })
        return { atimeNs: String(st.atimeNs), mtimeNs: String(st.mtimeNs), atime: st.atime.getTime(), mtime: st.mtime.getTime() }
      }
      case 'open':
        this.#handles.push(await fs.open(this.#path(call.path), call.flags))
        return 'handle'
      case 'read': {
        const buffer = new Uint8Array(call.length)
        const { bytesRead } = await this.#handle(call.slot).read(buffer, 0, call.length, call.position)
        return hex(buffer.subarray(0, bytesRead))
      }
      case 'write':
        return (await this.#handle(call.slot).write(pattern(call.length, call.fill), 0, call.length, call.position)).bytesWritten
      case 'ftruncate':
        return this.#handle(call.slot).truncate(call.length ?? 0)
      case 'fstat':
        return this.#stat(await this.#handle(call.slot).stat())
      case 'close': {
        const handle = this.#handle(call.slot)
        this.#handles.splice(this.#handles.indexOf(handle), 1)
        return handle.close()
      }
    }
  }

  async dispose(): Promise<void> {
    for (const handle of this.#handles.splice(0)) await handle.close()
  }
}

/** A fresh host directory 'w' inside a private parent; returns [parent, w]. */
export function hostRoot(scratch: string): [string, string] {
  const parent = mkdtempSync(path.join(scratch, 'uklkl-fs-'))
  return [parent, path.join(parent, 'w')]
}

export function removeHostRoot(parent: string): void {
  rmSync(parent, { recursive: true, force: true })
}

function same(a: Outcome, b: Outcome): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export function describeCall(call: FsCall): string {
  const { op, ...args } = call
  return `${op} ${JSON.stringify(args)}`
}

/** Run calls on both sides in turn; the transcript up to the first difference, or null when there is none. */
export async function compare(calls: readonly FsCall[], host: Side, kernel: Side): Promise<string | null> {
  const transcript: string[] = []
  for (const [step, call] of calls.entries()) {
    const h = await host.run(call)
    const k = await kernel.run(call)
    if (!same(h, k)) {
      return [...transcript, `${step}: ${describeCall(call)}`, `  host:   ${JSON.stringify(h)}`, `  kernel: ${JSON.stringify(k)}`].join('\n')
    }
    transcript.push(`${step}: ${describeCall(call)} → ${JSON.stringify(h)}`)
  }
  return null
}
