// SPDX-License-Identifier: MIT
/**
 * fs/flags.ts - Node's argument forms for k.fs: open flags ('r', 'wx', 'a+' ...
 * or a number), modes (a number or an octal string) and times (a Date or seconds).
 *
 * Numeric flags are the kernel's O_* values (k.constants), passed on as they are:
 * the same numbers as Node's fs.constants on an x86-64 Linux host, not on every
 * host (arm64's O_DIRECTORY differs). String flags are translated with the
 * kernel's constants, so they mean on the kernel what they mean on Node.
 */
import type { Constants } from '../generated/kernel-api.js'

export type OpenFlags = string | number
export type Mode = string | number
/** A time as Node's utimes takes it: a Date, seconds since the epoch, or seconds as a numeric string. */
export type TimeLike = Date | number | string

type OpenFlagName = 'O_RDONLY' | 'O_WRONLY' | 'O_RDWR' | 'O_CREAT' | 'O_EXCL' | 'O_TRUNC' | 'O_APPEND' | 'O_SYNC'

/** Node's string flags (lib/internal/fs/utils.js stringToFlags), by the O_* names they combine. */
const STRING_FLAGS: Readonly<Record<string, readonly OpenFlagName[]>> = {
  'r': ['O_RDONLY'],
  'rs': ['O_RDONLY', 'O_SYNC'],
  'sr': ['O_RDONLY', 'O_SYNC'],
  'r+': ['O_RDWR'],
  'rs+': ['O_RDWR', 'O_SYNC'],
  'sr+': ['O_RDWR', 'O_SYNC'],
  'w': ['O_TRUNC', 'O_CREAT', 'O_WRONLY'],
  'wx': ['O_TRUNC', 'O_CREAT', 'O_WRONLY', 'O_EXCL'],
  'xw': ['O_TRUNC', 'O_CREAT', 'O_WRONLY', 'O_EXCL'],
  'w+': ['O_TRUNC', 'O_CREAT', 'O_RDWR'],
  'wx+': ['O_TRUNC', 'O_CREAT', 'O_RDWR', 'O_EXCL'],
  'xw+': ['O_TRUNC', 'O_CREAT', 'O_RDWR', 'O_EXCL'],
  'a': ['O_APPEND', 'O_CREAT', 'O_WRONLY'],
  'ax': ['O_APPEND', 'O_CREAT', 'O_WRONLY', 'O_EXCL'],
  'xa': ['O_APPEND', 'O_CREAT', 'O_WRONLY', 'O_EXCL'],
  'as': ['O_APPEND', 'O_CREAT', 'O_WRONLY', 'O_SYNC'],
  'sa': ['O_APPEND', 'O_CREAT', 'O_WRONLY', 'O_SYNC'],
  'a+': ['O_APPEND', 'O_CREAT', 'O_RDWR'],
  'ax+': ['O_APPEND', 'O_CREAT', 'O_RDWR', 'O_EXCL'],
  'xa+': ['O_APPEND', 'O_CREAT', 'O_RDWR', 'O_EXCL'],
  'as+': ['O_APPEND', 'O_CREAT', 'O_RDWR', 'O_SYNC'],
  'sa+': ['O_APPEND', 'O_CREAT', 'O_RDWR', 'O_SYNC'],
}

/** The kernel's open flags for flags (Node's string form or a number), fallback when undefined. */
export function parseFlags(flags: OpenFlags | undefined, fallback: string, C: Constants): number {
  const given = flags ?? fallback
  if (typeof given === 'number') {
    if (!Number.isInteger(given)) throw new TypeError(`flags must be an integer, not ${given}`)
    return given
  }
  const names = STRING_FLAGS[given]
  if (names === undefined) throw new TypeError(`flags: unknown flag string ${JSON.stringify(given)}`)
  return names.reduce((f, name) => f | C[name], 0)
}

/** A mode as Node takes it: an integer, or a string of octal digits ('755'). */
export function parseMode(mode: Mode | undefined, fallback: number): number {
  if (mode === undefined) return fallback
  if (typeof mode === 'string') {
    if (!/^[0-7]+$/.test(mode)) throw new TypeError(`mode must be octal digits, not ${JSON.stringify(mode)}`)
    return Number.parseInt(mode, 8)
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0xffff_ffff) throw new RangeError(`mode must be a 32-bit unsigned integer, not ${mode}`)
  return mode
}

/** Node's toUnixTimestamp: seconds since the epoch (a negative number means now, as on Node). */
export function toSeconds(time: TimeLike, name: string): number {
  if (typeof time === 'string' && time.trim() !== '' && Number.isFinite(Number(time))) return Number(time)
  if (typeof time === 'number' && Number.isFinite(time)) return time < 0 ? Date.now() / 1000 : time
  if (time instanceof Date) return time.getTime() / 1000
  throw new TypeError(`${name} must be a Date or a finite number of seconds, not ${String(time)}`)
}

/**
 * Whether the running Node's libuv keeps a time's nanoseconds: libuv before 1.52
 * truncated them to microseconds "for consistency with other platforms" (Node 20
 * has 1.46), 1.52 keeps them (Node 26 has 1.52.1).
 */
const LIBUV_KEEPS_NANOSECONDS = (() => {
  const [major = 0, minor = 0] = process.versions.uv.split('.').map(Number)
  return major > 1 || (major === 1 && minor >= 52)
})()

/**
 * Two struct __kernel_timespec (64-bit seconds, 64-bit nanoseconds), as utimensat
 * takes them, split as the running Node's libuv splits a double: seconds truncated,
 * the fraction in nanoseconds (truncated to whole microseconds by libuv before
 * 1.52), moved into [0, 1e9) for times before the epoch.
 */
export function timespecPair(atime: number, mtime: number): Uint8Array {
  const bytes = new Uint8Array(32)
  const view = new DataView(bytes.buffer)
  for (const [i, t] of [atime, mtime].entries()) {
    let sec = Math.trunc(t)
    let nsec = Math.trunc((t - sec) * 1e9)
    if (!LIBUV_KEEPS_NANOSECONDS) nsec -= nsec % 1000
    if (nsec < 0) {
      sec -= 1
      nsec += 1e9
    }
    view.setBigInt64(i * 16, BigInt(sec), true)
    view.setBigInt64(i * 16 + 8, BigInt(nsec), true)
  }
  return bytes
}
