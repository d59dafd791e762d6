// SPDX-License-Identifier: MIT
/**
 * fs/errors.ts - the errors of k.fs, shaped like those of node:fs/promises.
 *
 * A failed syscall (LinuxError) becomes an FsError with Node's fields: code
 * ('ENOENT'), errno (negative, as Node has it), syscall (Node's name for the
 * operation: 'open', 'scandir', 'utime' ...), path and dest when the operation
 * has them, and Node's message: `ENOENT: no such file or directory, open '/x'`.
 *
 * Codes and texts are libuv's, which is where Node takes its own: Node reports
 * them through util.getSystemErrorMap(), looked up here by name so that the host's
 * errno numbering plays no part. errno is the kernel's number (Linux's generic
 * one, the same as Node's on x86-64 and arm64 Linux hosts).
 *
 * Limits: an errno libuv has no name for (EUCLEAN, say) keeps the kernel's name
 * and the kernel's text, where Node would say "Unknown system error".
 */
import { readFile } from 'node:fs/promises'
import { getSystemErrorMap } from 'node:util'
import { LinuxError, UklklError } from '../errors.js'

/** libuv's text for each code it knows. */
const LIBUV_TEXT = new Map<string, string>([...getSystemErrorMap().values()])

/**
 * The kernel's name for an errno where libuv uses another name for the same
 * number: Linux's EOPNOTSUPP and ENOTSUP are both 95, and libuv only knows ENOTSUP.
 */
const LIBUV_ALIAS: Readonly<Record<string, string>> = { EOPNOTSUPP: 'ENOTSUP' }

export interface FsErrorFields {
  code: string
  /** Negative for a syscall's errno; Node's SystemErrors (ERR_FS_EISDIR) carry it positive. */
  errno?: number
  syscall: string
  path?: string
  dest?: string
}

/** A failed k.fs operation: the fields and message Node's fs errors have. */
export class FsError extends UklklError {
  override name = 'FsError'
  readonly code: string
  // declare: an absent field is no own property at all (a class field would be one, set to undefined).
  declare readonly errno?: number
  readonly syscall: string
  declare readonly path?: string
  declare readonly dest?: string

  constructor(message: string, fields: FsErrorFields, options?: ErrorOptions) {
    super(message, options)
    this.code = fields.code
    this.syscall = fields.syscall
    // Absent fields stay absent (not undefined), as on Node's errors.
    if (fields.errno !== undefined) Object.defineProperty(this, 'errno', { value: fields.errno, enumerable: true })
    if (fields.path !== undefined) Object.defineProperty(this, 'path', { value: fields.path, enumerable: true })
    if (fields.dest !== undefined) Object.defineProperty(this, 'dest', { value: fields.dest, enumerable: true })
  }
}

/** Node's message for a failed syscall: `CODE: text, syscall 'path' -> 'dest'`. */
function uvMessage(code: string, text: string, syscall: string, path?: string, dest?: string): string {
  return `${code}: ${text}, ${syscall}${path === undefined ? '' : ` '${path}'`}${dest === undefined ? '' : ` -> '${dest}'`}`
}

/** Turns kernel errors into FsErrors for one kernel (its errno texts are the fallback). */
export class ErrorMapper {
  readonly #kernelText: Readonly<Record<string, string>>

  constructor(kernelText: Readonly<Record<string, string>>) {
    this.#kernelText = kernelText
  }

  /** The FsError for errno (positive, the kernel's) with the kernel's name for it. */
  fromErrno(errno: number, kernelName: string, syscall: string, path?: string, dest?: string, cause?: unknown): FsError {
    const alias = LIBUV_TEXT.has(kernelName) ? kernelName : LIBUV_ALIAS[kernelName]
    const code = alias ?? kernelName
    const text = (alias === undefined ? undefined : LIBUV_TEXT.get(alias)) ?? this.#kernelText[kernelName] ?? `errno ${errno}`
    return new FsError(uvMessage(code, text, syscall, path, dest), {
      code, errno: -errno, syscall,
      ...(path === undefined ? {} : { path }),
      ...(dest === undefined ? {} : { dest }),
    }, cause === undefined ? undefined : { cause })
  }

  /** error as Node would report it for this operation: LinuxErrors become FsErrors, the rest pass. */
  translate(error: unknown, syscall: string, path?: string, dest?: string): unknown {
    if (!(error instanceof LinuxError)) return error
    return this.fromErrno(error.errno, error.code, syscall, path, dest, error)
  }

  /**
   * fn's result, or its LinuxError (thrown or rejected) as this operation's FsError.
   * Not async: one promise link per call instead of two, on every k.fs syscall.
   */
  call<T>(syscall: string, path: string | undefined, fn: () => Promise<T>, dest?: string): Promise<T> {
    let result: Promise<T>
    try {
      result = fn()
    } catch (error) {
      return Promise.reject(this.translate(error, syscall, path, dest))
    }
    return result.catch((error: unknown) => {
      throw this.translate(error, syscall, path, dest)
    })
  }
}

let readFileNamesPath: Promise<boolean> | undefined

/**
 * Whether the running Node's readFile(path) names the path in the errors of its
 * reads (EISDIR for a directory): Node 26 does, Node 20 does not. Node itself is
 * asked, once, when such an error first happens: a readFile of '/', a directory.
 */
export function nodeReadFileNamesPath(): Promise<boolean> {
  readFileNamesPath ??= readFile('/').then(() => false, (error: unknown) => (error as NodeJS.ErrnoException).path !== undefined)
  return readFileNamesPath
}

/** error (of a syscall made on a descriptor, so naming no path) as naming path, the way Node words it. */
export function namingPath(error: FsError, path: string): FsError {
  return new FsError(`${error.message} '${path}'`, {
    code: error.code, syscall: error.syscall, path, ...(error.errno === undefined ? {} : { errno: error.errno }),
  }, { cause: error.cause })
}

/** What Node throws for an operation on a FileHandle that is closed (no errno: no syscall was made). */
export function fileClosedError(syscall: string): FsError {
  return new FsError('file closed', { code: 'EBADF', syscall })
}

/** Node's rm on a directory without recursive: a SystemError ERR_FS_EISDIR, errno positive. */
export function rmIsDirectoryError(path: string, eisdir: number): FsError {
  return new FsError(`Path is a directory: rm returned EISDIR (is a directory) ${path}`,
    { code: 'ERR_FS_EISDIR', errno: eisdir, syscall: 'rm', path })
}
