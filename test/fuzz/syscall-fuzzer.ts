// SPDX-License-Identifier: MIT
/**
 * syscall-fuzzer.ts - a seeded fuzzer of the kernel's raw syscalls (k.syscall):
 * random syscalls from the kernel's own table, each argument drawn by its
 * prototype's type and name, pointers from named classes. Used by
 * test/kernel/fuzz.test.ts (a fixed-seed slice) and by `npm run fuzz` (main.ts).
 *
 * Pointer classes, against the kernel's memory map (the kernel accepts user
 * pointers only into the user memory, the region the host stages syscall
 * arguments in; see wasm/arch/wasm/include/asm/uaccess.h):
 *   null        0
 *   first-page  1 .. 4095
 *   buffer      a valid staged buffer: a Uint8Array the raw form copies into user
 *               memory and back; a path string for `const char *` arguments
 *   user        any address inside the user memory, unaligned ones included
 *   inside      an address inside the kernel's memory but outside the user memory
 *               (the kernel's RAM, thread stacks ...)
 *   straddle    a few bytes below the end of the user memory or of the whole memory
 *   beyond      at or past the end of the memory (0xfffff000, 0xffffffff ...)
 * A buffer's own words, which the kernel may read as nested pointers and lengths,
 * are drawn from the same classes.
 *
 * What is a finding: a trap (the kernel stopped: the call or the next one rejects
 * with FiberTrapError, RuntimeFailedError, KernelStoppedError, PanicError ...); a
 * hang (a call does not return within callTimeoutMs and getpid from another thread
 * is not answered within probeTimeoutMs either); an unclean halt (at the end of a
 * kernel's share of calls, getpid or halt does not answer). A call that outlives its
 * timeout while the kernel still answers getpid is "blocked" (a read of an empty
 * pipe, a long sleep): legitimate, counted, left pending until the kernel halts.
 *
 * Reproducing: the arguments of call i are a function of (seed, i) and the
 * kernel's memory map alone (test/fuzz/prng.ts); each kernel is booted with a
 * random seed derived from (seed, its first call) and serves the calls from a
 * fixed boundary (a multiple of callsPerKernel, or the call after a finding), so
 * running calls firstCall..i on a fresh kernel replays a finding; each finding
 * carries the command that does it.
 *
 * Limits: excluded calls (EXCLUDED below, and getrandom while the kernel's crng is
 * not seeded) are listed in every report with the reason. Scalars are flags,
 * modes, ids and lengths (small numbers, single bits, boundary values); pointers
 * come from the classes above. Calls run one at a time; concurrency is the soak test's and
 * bench's subject. A write through a "user" pointer may land in the staged
 * arguments of a call still blocked: that only changes what the blocked call sees.
 */
import os from 'node:os'
import {
  type Kernel, type KernelOptions, type RawSyscallArg, type SyscallInfo, UklklError, startKernel,
} from '../../src/index.js'
import { Prng } from './prng.js'

export const POINTER_CLASSES = ['null', 'first-page', 'buffer', 'user', 'inside', 'straddle', 'beyond'] as const
export type PointerClass = typeof POINTER_CLASSES[number]

/** Options the fuzzer cannot run with (e.g. `only` naming no syscall of the table). */
export class FuzzOptionsError extends Error {
  override name = 'FuzzOptionsError'
}

/**
 * Syscalls the fuzzer never makes, and why. Everything else in the table is fair
 * game; calls that block for good (rt_sigsuspend, a read of an empty pipe) are
 * caught by the per-call timeout instead.
 */
export const EXCLUDED: Readonly<Record<string, string>> = {
  reboot: 'halts or restarts the kernel when its magic numbers match: ending the kernel is its job',
  // exit stays in: it ends only the calling worker's task, and the next call on that worker gets a new one.
  exit_group: 'ends pid 1\'s thread group, which every thread the API calls from belongs to: in Linux, init '
    + 'exiting panics the kernel; here every later call fails with ERESTARTNOINTR (513), halt included',
}

/** Scalar types that are really user pointers (the capability calls'). */
const POINTER_TYPEDEFS = new Set(['cap_user_header_t', 'cap_user_data_t'])

/** `unsigned long` arguments by these names carry pointers for some commands (ioctl, fcntl, prctl, keyctl). */
const POINTERISH_NAMES = /^(arg|argp|arg[2-5])$/
/** File descriptor arguments: fd, dfd, epfd, oldfd, fd_in, fildes ... (not nfds, a count). */
const FD_NAMES = /fd$|^fd_|^fildes$/
/** Byte lengths. */
const BYTE_LENGTH_NAMES = /len$|size$|^count$|bufsiz|nbytes|^sz$|^length$/
/** Element counts (iovecs, pollfds, mmsghdrs, io_events, gids ...). */
const ELEMENT_COUNT_NAMES = /^(nfds|vlen|maxevents|nr_events|min_nr|nr|n|nr_pages|nr_segs|liovcnt|riovcnt|nr_args|nr_reqs|gidsetsize|nsops)$/

type ScalarRole = 'fd' | 'length' | 'count'

/**
 * Roles of the arguments that syscalls.h declares without names (they arrive as
 * arg0, arg1 ...), by position; null for an argument with no special role.
 */
const UNNAMED_ARG_ROLES: Readonly<Record<string, readonly (ScalarRole | null)[]>> = {
  io_submit: [null, 'count'],
  rt_sigaction: [null, null, null, 'length'],
  bind: ['fd', null, 'length'],
  connect: ['fd', null, 'length'],
  listen: ['fd'],
  accept: ['fd'],
  accept4: ['fd'],
  getsockname: ['fd'],
  getpeername: ['fd'],
  sendto: ['fd', null, 'length', null, null, 'length'],
  recvfrom: ['fd', null, 'length'],
  shutdown: ['fd'],
  pselect6_time64: ['count'],
  ppoll_time64: [null, 'count', null, null, 'length'],
}

/** What a scalar argument stands for: by position for unnamed ones, else by its name. */
function scalarRole(syscall: SyscallInfo, index: number): ScalarRole | null {
  const arg = syscall.args[index]
  const unnamed = UNNAMED_ARG_ROLES[syscall.name]
  if (arg === undefined) return null
  if (unnamed !== undefined && /^arg\d$/.test(arg.name)) return unnamed[index] ?? null
  if (FD_NAMES.test(arg.name)) return 'fd'
  if (ELEMENT_COUNT_NAMES.test(arg.name)) return 'count'
  if (BYTE_LENGTH_NAMES.test(arg.name)) return 'length'
  return null
}

/** Sizes of staged buffers, bytes. */
const BUFFER_SIZES = [1, 8, 16, 64, 256, 1024, 4096, 16384, 65536]
/** Element counts, when the call has a staged buffer, stay up to this most of the time. */
const MAX_COUNT = 1024
/** The generator runs without a kernel at hand: the ABI values it needs. */
const AT_FDCWD = -100
const PAGE = 4096

/** Strings for `const char *` arguments: paths (existing, new, through files, too long), fs types, names. */
const PATH_STRINGS = [
  '/fuzz/file', '/fuzz/dir', '/fuzz/dir/sub', '/fuzz/link', '/fuzz/new', '/fuzz/dir/new', '/fuzz', '/fuzz/file/',
  '/fuzz/link/x', '/', '.', '..', '', 'file', 'new', '/proc/self/status', '/proc/self/fd', '/proc', '/nowhere/x',
  'tmpfs', 'proc', 'ramfs', 'sysfs', 'lo', 'user.fuzz', 'a'.repeat(300),
]

/** Where an argument's value came from: a pointer class or a scalar kind. */
export type ArgSource = PointerClass | 'path' | 'fd' | 'length' | 'count' | 'scalar' | 'wide'

export interface GeneratedArg {
  readonly name: string
  readonly type: string
  /** A number or bigint as it is passed, or a buffer the raw form stages in user memory. */
  readonly value: number | bigint | Uint8Array
  readonly source: ArgSource
}

export interface GeneratedCall {
  readonly index: number
  readonly syscall: SyscallInfo
  readonly args: readonly GeneratedArg[]
}

/** What the generator needs to know of the kernel it aims at. */
export interface KernelLayout {
  /** The size of the wasm memory: addresses at and above it are out of bounds. */
  readonly memoryEnd: number
  /** The user memory: [userStart, userEnd). */
  readonly userStart: number
  readonly userEnd: number
  /** The fds the fuzzer opened on this kernel (files, a directory, a pipe, sockets ...). */
  readonly fds: readonly number[]
}

export interface Finding {
  readonly kind: 'trap' | 'hang' | 'unclean-halt'
  readonly seed: number
  /** The call that was running (for an unclean halt, the kernel's last call). */
  readonly index: number
  /** The first call this kernel served: running firstCall..index replays the finding. */
  readonly firstCall: number
  /** The call, as `name(arg=value [source], ...)`. */
  readonly call: string
  readonly syscall: string
  readonly pointerClasses: readonly PointerClass[]
  readonly error: string
  /** The npm command that replays it. */
  readonly replay: string
}

export interface FuzzOptions {
  seed: number
  /** How many calls to make. */
  calls: number
  /** The index of the first call (a replay starts at a finding's firstCall). */
  firstCall?: number
  /** Calls one kernel serves before the next boots (bounds leaks of kernel memory and blocked calls). */
  callsPerKernel?: number
  /** How long a call may take before the fuzzer asks whether the kernel still answers. */
  callTimeoutMs?: number
  /** How long getpid from another thread, and halt, may take before the kernel counts as hung. */
  probeTimeoutMs?: number
  /** The pointer classes to draw from (all by default). */
  pointerClasses?: readonly PointerClass[]
  /** Fuzz only these syscalls (exclusions still apply). */
  only?: readonly string[]
  /** Options of each kernel the fuzzer boots. */
  kernel?: KernelOptions
  /**
   * Kernels without the run's seed: loaded from the boot snapshot instead of
   * booting (KernelOptions.snapshot), so on the asyncify build (a JSPI kernel
   * cannot be saved). Their random bytes differ from run to run, so a finding
   * may not replay exactly.
   */
  unseeded?: boolean
  /** Every call and its result (the replay's transcript). */
  onCall?: (line: string) => void
  /** Progress, every progressEvery calls. */
  onProgress?: (report: FuzzReport) => void
  progressEvery?: number
  onFinding?: (finding: Finding) => void
}

export interface FuzzReport {
  seed: number
  firstCall: number
  /** Calls made so far. */
  calls: number
  elapsedMs: number
  callsPerSecond: number
  /** Calls that returned (a result or -errno). */
  returned: number
  /** Of those, how many returned -errno. */
  errno: number
  /** Of those, how many returned EFAULT. */
  efault: number
  /** Calls still running at their timeout while the kernel answered getpid. */
  blocked: number
  traps: Finding[]
  hangs: Finding[]
  uncleanHalts: Finding[]
  kernels: number
  /** Of them, those loaded from the boot snapshot (unseeded). */
  loadedKernels: number
  /** How blocked calls ended when their kernel halted, by error name. */
  blockedEndings: Record<string, number>
  excluded: Record<string, string>
  /** The last kernel: what getpid answered and what halt resolved with (or why not). */
  final: { getpid: number | string, halt: number | string } | null
}

function hex(value: number | bigint): string {
  return `0x${(typeof value === 'number' ? value >>> 0 : BigInt.asUintN(64, value)).toString(16)}`
}

function beyondAddress(prng: Prng, memoryEnd: number): number {
  switch (prng.below(6)) {
    case 0: return memoryEnd
    case 1: return 0xffff_f000
    case 2: return 0xffff_ffff
    case 3: return 0x8000_0000
    case 4: return memoryEnd + PAGE * prng.between(1, 16)
    default: return prng.between(memoryEnd, 0xffff_ffff)
  }
}

/** An address inside the memory but outside the user memory. */
function insideAddress(prng: Prng, layout: KernelLayout): number {
  const below = layout.userStart - PAGE
  const above = layout.memoryEnd - layout.userEnd
  const pick = prng.below(below + above)
  return pick < below ? PAGE + pick : layout.userEnd + (pick - below)
}

/** The address of a pointer class other than buffer. */
function addressOf(cls: Exclude<PointerClass, 'buffer'>, prng: Prng, layout: KernelLayout): number {
  switch (cls) {
    case 'null': return 0
    case 'first-page': return prng.pick([1, 8, 0x100, 0x7ff, 0xff0, 0xffc, 0xfff, prng.between(1, PAGE - 1)])
    case 'user': return prng.between(layout.userStart, layout.userEnd - 1)
    case 'inside': return insideAddress(prng, layout)
    case 'straddle': return (prng.chance(0.5) ? layout.userEnd : layout.memoryEnd) - prng.between(1, 16)
    case 'beyond': return beyondAddress(prng, layout.memoryEnd)
  }
}

/** A staged buffer: words the kernel may read as nested pointers (of every class but buffer) and lengths. */
function bufferBytes(prng: Prng, layout: KernelLayout, classes: readonly PointerClass[]): Uint8Array {
  const size = prng.pick(BUFFER_SIZES)
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  const nested = classes.filter((c): c is Exclude<PointerClass, 'buffer'> => c !== 'buffer')
  for (let at = 0; at + 4 <= size; at += 4) {
    const word = prng.weighted({ zero: 3, small: 3, pointer: nested.length > 0 ? 4 : 0 })
    const value = word === 'zero' ? 0 : word === 'small' ? prng.between(1, 256) : addressOf(prng.pick(nested), prng, layout)
    view.setUint32(at, value >>> 0, true)
  }
  return bytes
}

/** A 32-bit scalar: flags, modes, commands, ids. */
function scalarValue(prng: Prng, memoryEnd: number): number {
  // Zero gets a share of its own: it is the flags value that takes the common path.
  switch (prng.weighted({ zero: 2, small: 3, bit: 2, lowBits: 2, boundary: 1, belowPage: 1, large: 1 })) {
    case 'zero': return 0
    case 'small': return prng.between(1, 16)
    case 'bit': return 1 << prng.below(31)
    case 'lowBits': return prng.next() & 0xfff
    case 'boundary': return prng.pick([-1, 0x7fff_ffff, -0x8000_0000, 0xffff, 0x1_0000, AT_FDCWD])
    case 'belowPage': return prng.between(0, PAGE - 1)
    case 'large': return prng.between(memoryEnd, 0xffff_ffff) | 0
  }
}

function wideValue(prng: Prng): bigint {
  switch (prng.below(5)) {
    case 0: return BigInt(prng.between(0, 8192))
    case 1: return 1n << BigInt(prng.below(64))
    case 2: return prng.pick([-1n, (1n << 63n) - 1n, -(1n << 63n), 1n << 32n, (1n << 32n) - 1n])
    case 3: return BigInt.asIntN(64, prng.next64())
    default: return BigInt(prng.between(0, 1 << 20))
  }
}

function fdValue(prng: Prng, layout: KernelLayout): number {
  switch (prng.below(8)) {
    case 0: return prng.between(0, 32)
    case 1: return AT_FDCWD
    case 2: return prng.pick([-1, 1 << 20, 0x7fff_ffff, -0x8000_0000])
    default: return layout.fds.length > 0 ? prng.pick(layout.fds) : prng.between(0, 32)
  }
}

/** The syscalls the fuzzer draws from: the table without the excluded ones. */
export function eligibleSyscalls(
  table: readonly SyscallInfo[], excluded: Readonly<Record<string, string>>,
): SyscallInfo[] {
  return table.filter((s) => !(s.name in excluded))
}

const encoder = new TextEncoder()

/** Call index of run seed: a pure function of (seed, index, the table, the layout). */
export function generateCall(
  seed: number, index: number, table: readonly SyscallInfo[], layout: KernelLayout,
  classes: readonly PointerClass[] = POINTER_CLASSES,
): GeneratedCall {
  const prng = new Prng(seed, index)
  const syscall = prng.pick(table)
  // Pointers first: the buffers they stage set the lengths that fit them.
  const drafts = syscall.args.map((arg): Pick<GeneratedArg, 'value' | 'source'> | null => {
    const pointer = arg.pointer || POINTER_TYPEDEFS.has(arg.type)
    const pointerish = !pointer && arg.type === 'unsigned long' && POINTERISH_NAMES.test(arg.name) && prng.chance(0.5)
    if (!pointer && !pointerish) return null
    if (classes.length === 0) return { source: 'scalar', value: scalarValue(prng, layout.memoryEnd) }
    const cls = prng.pick(classes)
    if (cls !== 'buffer') return { source: cls, value: addressOf(cls, prng, layout) }
    if (arg.const && /char/.test(arg.type) && prng.chance(0.7)) {
      return { source: 'path', value: encoder.encode(`${prng.pick(PATH_STRINGS)}\0`) }
    }
    return { source: 'buffer', value: bufferBytes(prng, layout, classes) }
  })
  const staged = drafts.flatMap((d) => d !== null && d.value instanceof Uint8Array ? [d.value.length] : [])
  const fit = staged.length === 0 ? null : Math.max(...staged)
  const args = syscall.args.map((arg, i): GeneratedArg => {
    const draft = drafts[i]
    const base = { name: arg.name, type: arg.type }
    if (draft !== null && draft !== undefined) return { ...base, ...draft }
    if (arg.size === 8) return { ...base, source: 'wide', value: wideValue(prng) }
    const role = scalarRole(syscall, i)
    if (role === 'fd') return { ...base, source: 'fd', value: fdValue(prng, layout) }
    // With a buffer staged, lengths and counts mostly fit it, so that calls get past their checks.
    if (fit !== null && role === 'length' && prng.chance(0.8)) return { ...base, source: 'length', value: prng.between(0, fit) }
    if (fit !== null && role === 'count' && prng.chance(0.8)) return { ...base, source: 'count', value: prng.between(0, MAX_COUNT) }
    return { ...base, source: 'scalar', value: scalarValue(prng, layout.memoryEnd) }
  })
  return { index, syscall, args }
}

/** The raw form's slots: 4-byte arguments and buffers as they are, 8-byte ones as low and high words. */
export function callSlots(call: GeneratedCall): RawSyscallArg[] {
  return call.args.flatMap((arg): RawSyscallArg[] => {
    if (arg.value instanceof Uint8Array) return [arg.value]
    if (typeof arg.value === 'number') return [arg.value | 0]
    const word = BigInt.asUintN(64, arg.value)
    return [Number(word & 0xffff_ffffn) | 0, Number(word >> 32n) | 0]
  })
}

export function describeCall(call: GeneratedCall): string {
  const args = call.args.map((a) => {
    const value = a.value instanceof Uint8Array
      ? a.source === 'path' ? JSON.stringify(new TextDecoder().decode(a.value.subarray(0, -1))) : `${a.value.length} bytes`
      : a.source === 'fd' || a.source === 'length' || a.source === 'count' ? String(a.value) : hex(a.value)
    return `${a.name}=${value} [${a.source}]`
  })
  return `#${call.index} ${call.syscall.name}(${args.join(', ')})`
}

const errnoNames = new Map(Object.entries(os.constants.errno).map(([name, value]) => [value, name]))

function describeResult(result: number): string {
  return result < 0 && result >= -4095 ? `${result} (${errnoNames.get(-result) ?? `E${-result}`})` : String(result)
}

type Settled<T> = { done: true, value: T } | { done: true, error: unknown } | { done: false }

/** promise's outcome, or { done: false } when it is still pending after ms. */
async function within<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms)
  })
  try {
    return await Promise.race([
      promise.then((value): Settled<T> => ({ done: true, value }), (error: unknown): Settled<T> => ({ done: true, error })),
      timeout,
    ])
  } finally {
    clearTimeout(timer)
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message.split('\n')[0] ?? ''}` : String(error)
}

/**
 * The user memory's bounds as the host reserved them (k.stats()), checked against
 * the line the kernel prints when it learns them at boot: if the two disagree, the
 * kernel accepts pointers the fuzzer would count as outside, and nothing it finds
 * could be trusted.
 */
function userMemory(k: Kernel): { userStart: number, userEnd: number } {
  const arena = k.stats().userMemory
  if (arena === null) throw new UklklError('the kernel has no user arena to fuzz against')
  const host = { userStart: arena.start, userEnd: arena.start + arena.size }
  const match = /wasm: user memory (0x[0-9a-f]+)-(0x[0-9a-f]+)/.exec(k.console())
  if (match === null) throw new UklklError('the kernel did not print where its user memory is ("wasm: user memory ...")')
  if (Number(match[1]) !== host.userStart || Number(match[2]) !== host.userEnd) {
    throw new UklklError(`the kernel's user memory ${match[1]}-${match[2]} is not the host's arena ` +
      `0x${host.userStart.toString(16)}-0x${host.userEnd.toString(16)}`)
  }
  return host
}

/** One kernel serving a share of the calls, with the files and fds the fuzzer staged on it. */
class FuzzKernel {
  /** Calls still running past their timeout; they end when the kernel halts. */
  readonly blocked: Promise<string>[] = []
  readonly #user: { userStart: number, userEnd: number }
  readonly #fds: readonly number[]

  private constructor(readonly kernel: Kernel, readonly firstCall: number, fds: readonly number[]) {
    this.#user = userMemory(kernel)
    this.#fds = fds
  }

  static async boot(seed: number | null, firstCall: number, options: KernelOptions): Promise<FuzzKernel> {
    // The kernel's random bytes follow the run's seed, so that a replay sees the same ones.
    const kernel = await startKernel({
      memoryMiB: 64, ...(seed === null ? {} : { seed: (BigInt(seed) << 32n) | BigInt(firstCall) }), ...options,
    })
    try {
      return new FuzzKernel(kernel, firstCall, await stageFiles(kernel))
    } catch (error) {
      await kernel.halt().catch(() => undefined)
      throw error
    }
  }

  /** The layout for the next call (the memory may have grown). */
  get layout(): KernelLayout {
    return { ...this.#user, memoryEnd: this.kernel.stats().heap.memoryBytes, fds: this.#fds }
  }
}

/** /proc, files, a directory, a symlink and open fds of several kinds for the fuzzed calls to find. */
async function stageFiles(k: Kernel): Promise<number[]> {
  const { AT_FDCWD: cwd, O_RDWR, O_CREAT, O_RDONLY, O_DIRECTORY, AF_UNIX, AF_INET, SOCK_STREAM, SOCK_DGRAM } = k.constants
  const sys = k.sys
  await k.mountFs('proc', { target: '/proc' })
  await sys.mkdirat(cwd, '/fuzz', 0o755)
  await sys.mkdirat(cwd, '/fuzz/dir', 0o755)
  await sys.mkdirat(cwd, '/fuzz/dir/sub', 0o755)
  await sys.symlinkat('file', cwd, '/fuzz/link')
  const fds: number[] = []
  const file = await sys.openat(cwd, '/fuzz/file', O_RDWR | O_CREAT, 0o644)
  await sys.write(file, new Uint8Array(5000).map((_, i) => i & 0xff), 5000)
  fds.push(file)
  fds.push(await sys.openat(cwd, '/fuzz/dir', O_RDONLY | O_DIRECTORY, 0))
  fds.push(await sys.openat(cwd, '/proc/self/status', O_RDONLY, 0))
  const pair = new Uint8Array(8)
  const view = new DataView(pair.buffer)
  await sys.pipe2(pair, 0)
  fds.push(view.getInt32(0, true), view.getInt32(4, true))
  await sys.socketpair(AF_UNIX, SOCK_STREAM, 0, pair)
  fds.push(view.getInt32(0, true), view.getInt32(4, true))
  fds.push(await sys.socket(AF_INET, SOCK_DGRAM, 0))
  fds.push(await sys.socket(AF_INET, SOCK_STREAM, 0))
  fds.push(await sys.eventfd2(0, 0))
  fds.push(await sys.epoll_create1(0))
  return fds
}

/** Why getrandom must be left out, or null when the kernel's crng serves it without blocking. */
async function getrandomBlocks(k: Kernel): Promise<string | null> {
  const nr = k.syscalls.find((s) => s.name === 'getrandom')?.nr
  if (nr === undefined) return null
  const result = await k.syscall(nr, new Uint8Array(16), 16, k.constants.GRND_NONBLOCK)
  return result === 16 ? null
    : `blocks until the kernel's crng is seeded, and this kernel's crng is not (getrandom with GRND_NONBLOCK: ${describeResult(result)})`
}

const DEFAULTS = { callsPerKernel: 2000, callTimeoutMs: 250, probeTimeoutMs: 5000, progressEvery: 1000 }

/** Run the fuzzer; resolves with its report (findings included, never thrown). */
export async function fuzzSyscalls(options: FuzzOptions): Promise<FuzzReport> {
  const { seed, calls } = options
  const firstCall = options.firstCall ?? 0
  const callsPerKernel = options.callsPerKernel ?? DEFAULTS.callsPerKernel
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULTS.callTimeoutMs
  const probeTimeoutMs = options.probeTimeoutMs ?? DEFAULTS.probeTimeoutMs
  const progressEvery = options.progressEvery ?? DEFAULTS.progressEvery
  const classes = options.pointerClasses ?? POINTER_CLASSES
  const kernelOptions = options.kernel ?? {}
  const started = performance.now()
  const report: FuzzReport = {
    seed, firstCall, calls: 0, elapsedMs: 0, callsPerSecond: 0, returned: 0, errno: 0, efault: 0, blocked: 0,
    traps: [], hangs: [], uncleanHalts: [], kernels: 0, loadedKernels: 0, blockedEndings: {}, excluded: { ...EXCLUDED }, final: null,
  }
  const replayCommand = (from: number, index: number): string => {
    const flags = [`--seed ${seed}`, `--from ${from}`, `--calls ${index - from + 1}`, '--verbose']
    if (options.callsPerKernel !== undefined) flags.push(`--calls-per-kernel ${callsPerKernel}`)
    if (options.pointerClasses !== undefined) flags.push(`--pointers ${classes.join(',')}`)
    if (options.only !== undefined) flags.push(`--only ${options.only.join(',')}`)
    if (options.callTimeoutMs !== undefined) flags.push(`--timeout ${callTimeoutMs}`)
    return `npm run fuzz -- ${flags.join(' ')}`
  }
  const record = (kind: Finding['kind'], current: FuzzKernel, call: GeneratedCall, error: string): void => {
    const finding: Finding = {
      kind, seed, index: call.index, firstCall: current.firstCall, call: describeCall(call), syscall: call.syscall.name,
      pointerClasses: [...new Set(call.args.flatMap((a) => (POINTER_CLASSES as readonly string[]).includes(a.source)
        ? [a.source as PointerClass] : []))],
      error, replay: replayCommand(current.firstCall, call.index),
    }
    const list = kind === 'trap' ? report.traps : kind === 'hang' ? report.hangs : report.uncleanHalts
    list.push(finding)
    options.onFinding?.(finding)
  }

  /** End a kernel's share: it must answer getpid and halt; blocked calls then end with it. */
  const finish = async (current: FuzzKernel, lastCall: GeneratedCall | null): Promise<{ getpid: number | string, halt: number | string }> => {
    const getpid = await within(current.kernel.sys.getpid(), probeTimeoutMs)
    const halt = await within(current.kernel.halt(), probeTimeoutMs)
    const outcome = {
      getpid: !getpid.done ? `no answer in ${probeTimeoutMs} ms` : 'value' in getpid ? getpid.value : errorText(getpid.error),
      halt: !halt.done ? `no answer in ${probeTimeoutMs} ms` : 'value' in halt ? halt.value : errorText(halt.error),
    }
    if (typeof outcome.getpid !== 'number' || outcome.halt !== 0) {
      const noCall: GeneratedCall = { index: current.firstCall, syscall: { nr: -1, name: '(no call yet)', entry: '', args: [] }, args: [] }
      record('unclean-halt', current, lastCall ?? noCall, `getpid: ${outcome.getpid}; halt: ${outcome.halt}`)
    }
    for (const ending of await Promise.all(current.blocked.map((p) => within(p, probeTimeoutMs)))) {
      const name = ending.done && 'value' in ending ? ending.value : 'still pending after halt'
      report.blockedEndings[name] = (report.blockedEndings[name] ?? 0) + 1
    }
    return outcome
  }

  let table: SyscallInfo[] = []
  let current: FuzzKernel | null = null
  let lastCall: GeneratedCall | null = null
  const boot = async (index: number): Promise<FuzzKernel> => {
    const fresh = options.unseeded === true
      ? await FuzzKernel.boot(null, index, { ...kernelOptions, fibers: 'asyncify' })
      : await FuzzKernel.boot(seed, index, kernelOptions)
    report.kernels++
    if (fresh.kernel.restored) report.loadedKernels++
    if (table.length === 0) {
      const getrandom = await getrandomBlocks(fresh.kernel)
      if (getrandom !== null) report.excluded.getrandom = getrandom
      table = eligibleSyscalls(fresh.kernel.syscalls, report.excluded)
      if (options.only !== undefined) {
        const unknown = options.only.filter((name) => !fresh.kernel.syscalls.some((s) => s.name === name))
        table = table.filter((s) => options.only?.includes(s.name))
        const problem = unknown.length > 0 ? `no syscall ${unknown.join(', ')} in the kernel's table`
          : table.length === 0 ? `every syscall of ${options.only.join(', ')} is excluded` : null
        if (problem !== null) {
          await fresh.kernel.halt()
          throw new FuzzOptionsError(problem)
        }
      }
    }
    return fresh
  }

  for (let index = firstCall; index < firstCall + calls; index++) {
    if (current !== null && index % callsPerKernel === 0) {
      await finish(current, lastCall)
      current = null
    }
    current ??= await boot(index)
    const call = generateCall(seed, index, table, current.layout, classes)
    lastCall = call
    const pending = current.kernel.syscall(call.syscall.nr, ...callSlots(call))
    const settled = await within(pending, callTimeoutMs)
    report.calls++
    if (settled.done && 'value' in settled) {
      report.returned++
      if (settled.value < 0 && settled.value >= -4095) report.errno++
      if (settled.value === -current.kernel.constants.EFAULT) report.efault++
      options.onCall?.(`${describeCall(call)} = ${describeResult(settled.value)}`)
    } else if (settled.done) {
      // uklkl's errors say the kernel stopped; anything else (a TypeError of the marshalling) is the fuzzer's bug.
      if (!(settled.error instanceof UklklError)) throw settled.error
      options.onCall?.(`${describeCall(call)} rejected: ${errorText(settled.error)}`)
      record('trap', current, call, errorText(settled.error))
      await current.kernel.halt().catch(() => undefined)
      current = null
    } else {
      const probe = await within(current.kernel.sys.getpid(), probeTimeoutMs)
      if (probe.done && 'value' in probe) {
        report.blocked++
        current.blocked.push(pending.then(() => 'returned later', (error: unknown) => error instanceof Error ? error.name : 'non-error'))
        options.onCall?.(`${describeCall(call)} blocked (the kernel still answers getpid)`)
      } else {
        const why = probe.done ? `getpid from another thread failed: ${errorText(probe.error)}`
          : `no answer in ${callTimeoutMs} ms, and getpid from another thread none in ${probeTimeoutMs} ms`
        options.onCall?.(`${describeCall(call)} hung: ${why}`)
        record(probe.done ? 'trap' : 'hang', current, call, why)
        // A wedged kernel may never halt; give it the probe's bound and move on.
        void pending.catch(() => undefined)
        await within(current.kernel.halt(), probeTimeoutMs)
        current = null
      }
    }
    if (report.calls % progressEvery === 0) {
      report.elapsedMs = performance.now() - started
      report.callsPerSecond = report.calls / (report.elapsedMs / 1000)
      options.onProgress?.(report)
    }
  }
  current ??= await boot(firstCall + calls)
  report.final = await finish(current, lastCall)
  report.elapsedMs = performance.now() - started
  report.callsPerSecond = report.calls / (report.elapsedMs / 1000)
  return report
}
