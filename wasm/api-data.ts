// SPDX-License-Identifier: GPL-2.0-only
/**
 * api-data.ts - the data the public API needs (src/kernel-data.ts), generated from the built kernel tree:
 * the syscall table (number, name, and each argument's type and width from the
 * kernel's own prototypes), errno names, uapi constants and struct layouts.
 *
 * Numbers and entry points come from the arch's generated unistd_32.h and
 * syscall_table_32.h; argument lists from include/linux/syscalls.h. Constants and
 * layouts are measured, not transcribed: a probe C file including the installed
 * uapi headers is compiled for wasm32 with the same clang, and its tables of
 * values, offsetof and sizeof are read back from the module's memory. The
 * constants are every integer macro (and enumerator) of those headers whose name
 * has one of the prefixes of CONSTANT_NAMES: the preprocessor lists the macros,
 * and the few that are not integer constants (types, initializers, pointers)
 * are those the compiler rejects in the probe's table.
 *
 * Limits: an argument whose type is not in the tables below stops the generator
 * (better than guessing its width); the structs are the curated list below,
 * grown as the API needs them; a constant beyond 2^53 is left out (JS numbers).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseHostOpsHeader, splitParams } from '../src/host-ops/header.js'
import type { KernelData, StructLayout, SyscallArg, SyscallInfo } from '../src/kernel-data.js'
import { llvmTool } from '../scripts/toolchain.js'

/** 64-bit scalar types of syscall prototypes on wasm32. */
const WIDE_TYPES = new Set(['loff_t', 'u64', '__u64', 's64', '__s64', 'long long', 'unsigned long long'])
/** 32-bit-or-narrower scalar types of syscall prototypes on wasm32 (passed in a 4-byte slot). */
const NARROW_TYPES = new Set([
  'int', 'unsigned', 'unsigned int', 'long', 'unsigned long', 'u32', '__u32', 's32', '__s32', 'u16', 'size_t', 'uint32_t',
  'pid_t', 'uid_t', 'gid_t', 'old_uid_t', 'old_gid_t', 'umode_t', 'qid_t', 'key_serial_t', 'mqd_t', 'timer_t',
  'clockid_t', 'aio_context_t', 'rwf_t', 'off_t', 'old_sigset_t', '__kernel_old_time_t', 'key_t',
  'unsigned char', 'char', 'short', 'unsigned short',
])
/** Typedefs of pointer types that syscall prototypes use: their arguments are pointers. */
const POINTER_TYPEDEFS = new Set(['cap_user_header_t', 'cap_user_data_t'])

/** Parse one parameter of a prototype, e.g. "const char __user *filename". */
function parseArg(text: string, index: number): SyscallArg {
  const clean = text.replace(/\b__user\b/g, '').replace(/\s+/g, ' ').trim()
  const pointer = clean.includes('*') || clean.includes('[')
  const constant = pointer && /^const\b/.test(clean)
  const words = clean.replace(/\*/g, ' * ').split(' ').filter((w) => w !== '')
  // The last word is the parameter's name unless the prototype leaves it out.
  const last = words[words.length - 1]!
  const named = last !== '*' && words.length > 1 && !WIDE_TYPES.has(words.join(' ')) && !NARROW_TYPES.has(words.join(' ')) &&
    !POINTER_TYPEDEFS.has(words.join(' '))
  const name = named ? last.replace(/\[.*$/, '') : `arg${index}`
  const type = (named ? words.slice(0, -1) : words).join(' ').replace(/ \*/g, '*')
  if (pointer) return { name, type, size: 4, pointer, const: constant }
  const base = type.replace(/^(const|enum|struct) /, '')
  if (POINTER_TYPEDEFS.has(base)) return { name, type, size: 4, pointer: true, const: type.startsWith('const ') }
  if (WIDE_TYPES.has(base)) return { name, type, size: 8, pointer, const: false }
  if (NARROW_TYPES.has(base) || type.startsWith('enum ')) return { name, type, size: 4, pointer, const: false }
  throw new Error(`unknown width of syscall argument type "${type}" (${text.trim()})`)
}

/** The parameter list of every `asmlinkage long sys_X(...)` of include/linux/syscalls.h, by entry point. */
export function parsePrototypes(syscallsH: string): Map<string, string> {
  const prototypes = new Map<string, string>()
  const text = syscallsH.replace(/\/\*[\s\S]*?\*\//g, '')
  for (const match of text.matchAll(/asmlinkage\s+long\s+(sys_\w+)\s*\(([^;]*?)\)\s*;/g)) {
    prototypes.set(match[1]!, match[2]!.replace(/\s+/g, ' ').trim())
  }
  return prototypes
}

/**
 * The parameter lists of the SYSCALL_DEFINEn(name, type, arg, ...) definitions in
 * source, for the syscalls that syscalls.h does not declare (the arch's own).
 */
export function parseDefinitions(source: string): Map<string, string> {
  const definitions = new Map<string, string>()
  for (const match of source.matchAll(/(?<!\w)SYSCALL_DEFINE(\d)\((\w+)((?:,[^,)]+,\s*\w+)*)\)/g)) {
    const parts = match[3]!.split(',').slice(1).map((p) => p.trim())
    const params: string[] = []
    for (let i = 0; i < parts.length; i += 2) params.push(`${parts[i]} ${parts[i + 1]}`)
    definitions.set(`sys_${match[2]}`, params.length === 0 ? 'void' : params.join(', '))
  }
  return definitions
}

function parseArgs(params: string): SyscallArg[] {
  return splitParams(params).map(parseArg)
}

/**
 * The syscall table: unistd header lines `#define __NR_name nr` and table lines
 * `__SYSCALL(nr, entry)`; entries that are sys_ni_syscall are left out.
 */
export function syscallTable(unistdH: string, tableH: string, prototypes: Map<string, string>): SyscallInfo[] {
  const entries = new Map<number, string>()
  for (const m of tableH.matchAll(/__SYSCALL(?:_WITH_COMPAT)?\((\d+),\s*(\w+)/g)) entries.set(Number(m[1]), m[2]!)
  const syscalls: SyscallInfo[] = []
  const problems: string[] = []
  for (const m of unistdH.matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) {
    const nr = Number(m[2])
    const entry = entries.get(nr)
    if (entry === undefined || entry === 'sys_ni_syscall') continue
    const params = prototypes.get(entry)
    try {
      if (params === undefined) throw new Error(`no prototype for ${entry} (syscall ${m[1]} = ${nr})`)
      syscalls.push({ nr, name: m[1]!, entry, args: parseArgs(params) })
    } catch (error) {
      problems.push((error as Error).message)
    }
  }
  // All problems at once: each is a line to add to the tables above.
  if (problems.length > 0) throw new Error(`api-data: the syscall table cannot be described:\n${problems.join('\n')}`)
  return syscalls.sort((a, b) => a.nr - b.nr)
}

/** errno names from asm-generic/errno-base.h and errno.h (aliases resolved). */
export function parseErrno(...headers: string[]): Record<string, number> {
  const errno: Record<string, number> = {}
  for (const header of headers) {
    for (const m of header.matchAll(/^#define\s+(E\w+)\s+(\w+)/gm)) {
      const value = /^\d+$/.test(m[2]!) ? Number(m[2]) : errno[m[2]!]
      if (value !== undefined) errno[m[1]!] = value
    }
  }
  return errno
}

/** What each errno means, from the comment beside its #define (the text strerror gives). */
export function parseErrnoText(...headers: string[]): Record<string, string> {
  const text: Record<string, string> = {}
  for (const header of headers) {
    for (const m of header.matchAll(/^#define\s+(E\w+)\s+\d+\s*\/\*\s*(.*?)\s*\*\//gm)) text[m[1]!] = m[2]!
  }
  return text
}

/** The uapi headers the probe includes. */
const PROBE_HEADERS = [
  'linux/fcntl.h', 'linux/stat.h', 'linux/eventpoll.h', 'linux/time.h', 'linux/time_types.h',
  'linux/mman.h', 'linux/fs.h', 'linux/in.h', 'linux/in6.h', 'linux/un.h', 'linux/net.h',
  'linux/socket.h', 'linux/reboot.h', 'linux/mount.h', 'linux/poll.h', 'linux/utsname.h',
  'linux/eventfd.h', 'linux/signal.h', 'linux/if.h', 'linux/sockios.h', 'linux/futex.h', 'linux/uio.h',
  'asm/stat.h', 'asm/statfs.h', 'linux/magic.h', 'linux/tcp.h', 'linux/random.h', 'linux/wait.h',
  'asm/ioctls.h', 'linux/timerfd.h', 'linux/memfd.h', 'linux/falloc.h', 'linux/inotify.h', 'linux/sched.h',
  'linux/netlink.h', 'linux/rtnetlink.h', 'linux/xattr.h', 'linux/resource.h', 'linux/prctl.h',
]

/** The names k.constants offers: integer macros and enumerators of the probe's headers with these prefixes. */
const CONSTANT_NAMES = new RegExp(`^(${[
  // files, directories, descriptors
  'O_', 'AT_', 'F_', 'FD_', 'SEEK_', 'S_I[FRWX]', 'S_IS[UGV]', 'STATX_', 'RENAME_', 'UTIME_', 'FALLOC_FL_',
  'SPLICE_F_', 'LOCK_', 'RWF_', 'XATTR_', 'MS_', 'MNT_', 'UMOUNT_', 'MOUNT_ATTR_', 'MOVE_MOUNT_', 'FSMOUNT_',
  'OPEN_TREE_', 'BLK', '\\w+_MAGIC\\d*$',
  // waiting, events, time
  'EPOLL', 'POLL', 'EFD_', 'TFD_', 'MFD_', 'IN_', 'GRND_', 'CLOCK_', 'TIMER_ABSTIME$', 'FUTEX_',
  // memory
  'PROT_', 'MAP_', 'MREMAP_', 'MADV_',
  // sockets and network interfaces
  'AF_', 'PF_', 'SOCK_', 'SOL_', 'SO_', 'SCM_', 'MSG_', 'SHUT_', 'IPPROTO_', 'IP_', 'IPV6_', 'TCP_', 'INADDR_',
  'NETLINK_', 'NLM_F_', 'RTM_', 'RTMGRP_', 'IFF_', 'IFNAMSIZ$', 'SIOC', 'FIO', 'TIOC',
  // processes and signals
  'SIG[A-Z0-9]+$', 'SA_', 'W(NOHANG|UNTRACED|STOPPED|EXITED|CONTINUED|NOWAIT)$', 'P_(ALL|PID|PGID|PIDFD)$',
  'CLONE_', 'PR_', 'RLIMIT_', 'RUSAGE_', 'PRIO_', 'LINUX_REBOOT_',
].join('|')})`)

/** Constants the API and its documentation rely on: the build fails without any of them. */
const REQUIRED_CONSTANTS = [
  'O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_EXCL', 'O_TRUNC', 'O_APPEND', 'O_NONBLOCK', 'O_DIRECTORY',
  'O_CLOEXEC', 'AT_FDCWD', 'AT_REMOVEDIR', 'F_GETFD', 'F_SETFL', 'F_SETPIPE_SZ', 'FD_CLOEXEC', 'S_IFMT', 'S_IFREG',
  'S_IFDIR', 'SEEK_SET', 'SEEK_END', 'EPOLL_CTL_ADD', 'EPOLLIN', 'CLOCK_MONOTONIC', 'CLOCK_REALTIME', 'MAP_SHARED',
  'AF_INET', 'AF_INET6', 'AF_UNIX', 'SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_NONBLOCK', 'SOCK_CLOEXEC', 'SOL_SOCKET',
  'SO_REUSEADDR', 'SO_RCVTIMEO', 'IPPROTO_TCP', 'TCP_NODELAY', 'INADDR_LOOPBACK', 'MSG_DONTWAIT', 'SHUT_WR',
  'IFF_UP', 'SIOCGIFNAME', 'SIOCGIFFLAGS', 'SIOCSIFFLAGS', 'IFNAMSIZ', 'FIONREAD', 'POLLIN', 'EFD_NONBLOCK',
  'GRND_NONBLOCK', 'MS_RDONLY', 'MNT_DETACH', 'SIGKILL', 'WNOHANG', 'LINUX_REBOOT_CMD_POWER_OFF',
  'PROC_SUPER_MAGIC', 'RAMFS_MAGIC', 'EXT4_SUPER_MAGIC', 'MSDOS_SUPER_MAGIC', 'SYSFS_MAGIC', 'FUTEX_WAIT',
]

/** Structs users read or write, with the fields the API exposes; `name[]` marks a flexible array member. */
const STRUCTS: Record<string, { c: string, fields: string[] }> = {
  stat64: { c: 'struct stat64', fields: ['st_dev', 'st_ino', 'st_mode', 'st_nlink', 'st_uid', 'st_gid', 'st_rdev',
    'st_size', 'st_blksize', 'st_blocks', 'st_atime', 'st_atime_nsec', 'st_mtime', 'st_mtime_nsec', 'st_ctime',
    'st_ctime_nsec'] },
  statx: { c: 'struct statx', fields: ['stx_mask', 'stx_blksize', 'stx_attributes', 'stx_nlink', 'stx_uid',
    'stx_gid', 'stx_mode', 'stx_ino', 'stx_size', 'stx_blocks', 'stx_atime', 'stx_mtime', 'stx_ctime'] },
  statx_timestamp: { c: 'struct statx_timestamp', fields: ['tv_sec', 'tv_nsec'] },
  linux_dirent64: { c: 'struct linux_dirent64', fields: ['d_ino', 'd_off', 'd_reclen', 'd_type', 'd_name[]'] },
  epoll_event: { c: 'struct epoll_event', fields: ['events', 'data'] },
  timespec: { c: 'struct __kernel_timespec', fields: ['tv_sec', 'tv_nsec'] },
  itimerspec: { c: 'struct __kernel_itimerspec', fields: ['it_interval', 'it_value'] },
  pollfd: { c: 'struct pollfd', fields: ['fd', 'events', 'revents'] },
  iovec: { c: 'struct iovec', fields: ['iov_base', 'iov_len'] },
  sockaddr_in: { c: 'struct sockaddr_in', fields: ['sin_family', 'sin_port', 'sin_addr'] },
  sockaddr_in6: { c: 'struct sockaddr_in6', fields: ['sin6_family', 'sin6_port', 'sin6_flowinfo', 'sin6_addr',
    'sin6_scope_id'] },
  sockaddr_un: { c: 'struct sockaddr_un', fields: ['sun_family', 'sun_path'] },
  utsname: { c: 'struct new_utsname', fields: ['sysname', 'nodename', 'release', 'version', 'machine',
    'domainname'] },
  ifreq: { c: 'struct ifreq', fields: ['ifr_name', 'ifr_flags', 'ifr_ifindex'] },
  statfs64: { c: 'struct statfs64', fields: ['f_type', 'f_bsize', 'f_blocks', 'f_bfree', 'f_bavail', 'f_files',
    'f_ffree', 'f_namelen', 'f_frsize', 'f_flags'] },
}

/**
 * Parts of the kernel's ABI that live outside uapi (libc copies them): the probe
 * takes them verbatim from these internal headers.
 */
const INTERNAL_DEFINITIONS: { header: string, pattern: RegExp }[] = [
  { header: 'include/linux/dirent.h', pattern: /struct linux_dirent64 \{[\s\S]*?\};/g },
  { header: 'include/linux/socket.h', pattern: /^#define\s+(AF|PF|SOL|MSG|SCM)_\w+\s+[^/\n]+/gm },
  { header: 'include/linux/net.h', pattern: /enum sock_(type|shutdown_cmd) \{[\s\S]*?\};|^#define\s+SOCK_(CLOEXEC|NONBLOCK)\s.*$/gm },
  { header: 'include/linux/fs.h', pattern: /^#define\s+(MNT_FORCE|MNT_DETACH|UMOUNT_NOFOLLOW)\s+\w+/gm },
  { header: 'include/linux/stat.h', pattern: /^#define\s+UTIME_(NOW|OMIT)\s.*$/gm },
]

function internalDefinitions(srcTree: string): string {
  return INTERNAL_DEFINITIONS.map(({ header, pattern }) => {
    const text = readFileSync(path.join(srcTree, header), 'utf8')
    const found = [...text.matchAll(pattern)].map((m) => m[0])
    if (found.length === 0) throw new Error(`api-data: nothing matching ${pattern} in ${header}`)
    return found.join('\n').replace(/\bu64\b/g, '__u64').replace(/\bs64\b/g, '__s64')
  }).join('\n')
}

/** What the probe includes: the uapi headers and the internal definitions. */
function probePrelude(srcTree: string): string {
  return [
    // The user ABI here is time64 (the syscall table is the time64 one): SO_RCVTIMEO and
    // friends, which test sizeof(time_t), must come out as their _NEW values.
    'typedef long long time_t;',
    // What the ioctl numbers of linux/fs.h (BLKGETSIZE64, ...) take the size of.
    'typedef __SIZE_TYPE__ size_t;',
    ...PROBE_HEADERS.map((h) => `#include <${h}>`),
    internalDefinitions(srcTree),
    '',
  ].join('\n')
}

/** The probe: tables of the constants' values and of the structs' layouts. */
function probeSource(constants: readonly string[]): string {
  const kind = (expr: string): string =>
    `_Generic((${expr}), signed char: 1, short: 1, int: 1, long: 1, long long: 1, unsigned char: 2, ` +
    'unsigned short: 2, unsigned int: 2, unsigned long: 2, unsigned long long: 2, char: 1, default: 0)'
  const fields = Object.entries(STRUCTS).flatMap(([name, s]) => s.fields.map((field) => {
    const f = field.replace('[]', '')
    const size = field.endsWith('[]') ? '0' : `sizeof(((${s.c} *)0)->${f})`
    return `{ "${name}", "${f}", __builtin_offsetof(${s.c}, ${f}), ${size}, ${kind(`((${s.c} *)0)->${f}`)} },`
  }))
  return [
    '#include "probe-prelude.h"',
    'struct probe_constant { const char *name; long long value; };',
    'struct probe_field { const char *type; const char *field; unsigned offset, size; int kind; };',
    'struct probe_struct { const char *type; unsigned size; };',
    '__attribute__((used)) const struct probe_constant probe_constants[] = {',
    ...constants.map((c) => `\t{ "${c}", (long long)(${c}) },`),
    '\t{ 0, 0 } };',
    '__attribute__((used)) const struct probe_field probe_fields[] = {',
    ...fields.map((f) => `\t${f}`),
    '\t{ 0, 0, 0, 0, 0 } };',
    '__attribute__((used)) const struct probe_struct probe_structs[] = {',
    ...Object.entries(STRUCTS).map(([name, s]) => `\t{ "${name}", sizeof(${s.c}) },`),
    '\t{ 0, 0 } };',
    '',
  ].join('\n')
}

/** The constants k.constants offers: the prelude's object-like macros and enumerators named as CONSTANT_NAMES says. */
function constantCandidates(clangArgs: readonly string[], prelude: string, preludeText: string): string[] {
  const result = spawnSync(llvmTool('clang'), [...clangArgs, '-E', '-dM', prelude], { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (result.status !== 0) throw new Error(`api-data: preprocessing the probe failed:\n${result.stderr}`)
  // "#define NAME body": a function-like macro has "(" right after its name.
  const names = [...result.stdout.matchAll(/^#define (\w+) /gm)].map((m) => m[1] ?? '')
  for (const body of preludeText.matchAll(/\benum \w+ \{([^}]*)\}/g)) {
    names.push(...[...(body[1] ?? '').matchAll(/^\s*(\w+)\s*(?:=[^,\n]*)?,?\s*(?:\/\*.*)?$/gm)].map((m) => m[1] ?? ''))
  }
  return [...new Set(names.filter((n) => CONSTANT_NAMES.test(n)))].sort()
}

/** Rounds of checking before giving up: errors of one kind can hide others until the first are gone. */
const MAX_CHECK_ROUNDS = 4

/**
 * The candidates that are integer constant expressions: each is checked as the
 * initializer of a variable of its own, so every rejection (macros that are types,
 * strings, initializers or pointers) shows at once and names its line. Any other
 * error stops the generator.
 */
function integerConstants(clangArgs: readonly string[], dir: string, candidates: readonly string[]): string[] {
  const check = path.join(dir, 'check.c')
  let constants = [...candidates]
  for (let round = 1; ; round++) {
    const first = 2
    writeFileSync(check, ['#include "probe-prelude.h"',
      ...constants.map((c, i) => `static const long long probe_check_${i} = (long long)(${c});`), ''].join('\n'))
    const result = spawnSync(llvmTool('clang'), [...clangArgs, '-fsyntax-only', '-ferror-limit=0', '-Wno-unused', check],
      { encoding: 'utf8', maxBuffer: 64 << 20 })
    if (result.status === 0) return constants
    const rejected = new Set<string>()
    let other = false
    for (const m of result.stderr.matchAll(/^(.*?):(\d+):\d+: error: /gm)) {
      const constant = path.basename(m[1] ?? '') === 'check.c' ? constants[Number(m[2]) - first] : undefined
      if (constant === undefined) other = true
      else rejected.add(constant)
    }
    if (other || rejected.size === 0 || round === MAX_CHECK_ROUNDS) {
      throw new Error(`api-data: the constants probe does not compile:\n${result.stderr}`)
    }
    constants = constants.filter((c) => !rejected.has(c))
  }
}

/** Compile the probe against the installed uapi headers and read its tables back. */
async function measure(srcTree: string, uapiInclude: string): Promise<Pick<KernelData, 'constants' | 'structs'>> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'uklkl-probe-'))
  try {
    const prelude = path.join(tmp, 'probe-prelude.h')
    const source = path.join(tmp, 'probe.c')
    const wasm = path.join(tmp, 'probe.wasm')
    const preludeText = probePrelude(srcTree)
    writeFileSync(prelude, preludeText)
    // linux/if.h takes struct sockaddr from the C library's sys/socket.h: give it the POSIX one.
    mkdirSync(path.join(tmp, 'sys'))
    writeFileSync(path.join(tmp, 'sys/socket.h'),
      '#include <linux/socket.h>\nstruct sockaddr { __kernel_sa_family_t sa_family; char sa_data[14]; };\n')
    const clangArgs = ['--target=wasm32', '-O1', '-nostdlibinc', '-Wno-macro-redefined', `-I${uapiInclude}`, `-I${tmp}`]
    const names = integerConstants(clangArgs, tmp, constantCandidates(clangArgs, prelude, preludeText))
    writeFileSync(source, probeSource(names))
    execFileSync(llvmTool('clang'), [...clangArgs, '-c', source, '-o', `${wasm}.o`], { stdio: ['ignore', 'inherit', 'inherit'] })
    execFileSync(llvmTool('wasm-ld'), ['--no-entry', '--export=probe_constants', '--export=probe_fields',
      '--export=probe_structs', `${wasm}.o`, '-o', wasm])
    const { instance } = await WebAssembly.instantiate(readFileSync(wasm))
    const memory = instance.exports.memory as WebAssembly.Memory
    const view = new DataView(memory.buffer)
    const bytes = new Uint8Array(memory.buffer)
    const cstr = (addr: number): string => new TextDecoder().decode(bytes.subarray(addr, bytes.indexOf(0, addr)))
    const table = (name: string): number => (instance.exports[name] as WebAssembly.Global).value as number

    const constants: Record<string, number> = {}
    for (let p = table('probe_constants'); view.getUint32(p, true) !== 0; p += 16) {
      const value = view.getBigInt64(p + 8, true)
      // A JS number holds it exactly, or it is left out.
      if (BigInt(Number(value)) === value) constants[cstr(view.getUint32(p, true))] = Number(value)
    }
    const missing = REQUIRED_CONSTANTS.filter((c) => constants[c] === undefined)
    if (missing.length > 0) {
      throw new Error(`api-data: required constants missing (of ${names.length} measured): ${missing.join(', ')}`)
    }
    const structs: Record<string, StructLayout> = {}
    for (let p = table('probe_structs'); view.getUint32(p, true) !== 0; p += 8) {
      structs[cstr(view.getUint32(p, true))] = { size: view.getUint32(p + 4, true), fields: {} }
    }
    const kinds = ['bytes', 'i', 'u'] as const
    for (let p = table('probe_fields'); view.getUint32(p, true) !== 0; p += 20) {
      structs[cstr(view.getUint32(p, true))]!.fields[cstr(view.getUint32(p + 4, true))] = {
        offset: view.getUint32(p + 8, true),
        size: view.getUint32(p + 12, true),
        kind: kinds[view.getInt32(p + 16, true)]!,
      }
    }
    return { constants, structs }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

export interface KernelDataInputs {
  kernelVersion: string
  /** The kernel source tree (with our overlay). */
  srcTree: string
  /** The arch's generated unistd_32.h and syscall_table_32.h in the build tree. */
  unistdH: string
  syscallTableH: string
  /** The installed uapi headers (make headers_install), i.e. the folder holding linux/ and asm/. */
  uapiInclude: string
  /** The arch's C files, for the syscalls it defines itself. */
  archSources: readonly string[]
}

/**
 * Where the syscalls whose syscalls.h prototypes leave the parameters unnamed
 * (the socket calls, rt_sigaction, ...) are defined: their SYSCALL_DEFINEs name them.
 */
const DEFINITION_SOURCES = ['net/socket.c', 'kernel/signal.c', 'kernel/fork.c', 'fs/aio.c', 'fs/select.c']

/**
 * Give unnamed arguments (argN) the names of the syscall's definition, when it has
 * as many parameters; the types stay the prototype's. Of several definitions under
 * #ifdef, the last (the generic one, for an arch like ours) wins.
 */
export function nameArguments(syscalls: SyscallInfo[], definitions: ReadonlyMap<string, string>): SyscallInfo[] {
  return syscalls.map((syscall) => {
    const params = definitions.get(syscall.entry)
    if (params === undefined || !syscall.args.some((a) => /^arg\d+$/.test(a.name))) return syscall
    const named = parseArgs(params)
    if (named.length !== syscall.args.length) return syscall
    return { ...syscall, args: syscall.args.map((a, i) => ({ ...a, name: named[i]?.name ?? a.name })) }
  })
}

export async function generateKernelData(inputs: KernelDataInputs): Promise<KernelData> {
  const read = (file: string): string => readFileSync(file, 'utf8')
  const prototypes = parsePrototypes(read(path.join(inputs.srcTree, 'include/linux/syscalls.h')))
  for (const file of inputs.archSources) {
    for (const [entry, params] of parseDefinitions(read(file))) if (!prototypes.has(entry)) prototypes.set(entry, params)
  }
  const errnoHeaders = [
    read(path.join(inputs.uapiInclude, 'asm-generic/errno-base.h')),
    read(path.join(inputs.uapiInclude, 'asm-generic/errno.h')),
  ] as const
  const definitions = new Map(DEFINITION_SOURCES.flatMap((file) => [...parseDefinitions(read(path.join(inputs.srcTree, file)))]))
  return {
    kernelVersion: inputs.kernelVersion,
    // The overlay's copy: the header this image was compiled with.
    exports: parseHostOpsHeader(read(path.join(inputs.srcTree, 'arch/wasm/host/host-ops.h'))).exports.map((e) => e.name),
    syscalls: nameArguments(syscallTable(read(inputs.unistdH), read(inputs.syscallTableH), prototypes), definitions),
    errno: parseErrno(errnoHeaders[0], errnoHeaders[1]),
    errnoText: parseErrnoText(errnoHeaders[0], errnoHeaders[1]),
    ...await measure(inputs.srcTree, inputs.uapiInclude),
  }
}
