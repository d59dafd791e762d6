// SPDX-License-Identifier: MIT
/**
 * messages.ts - how the image tools speak: coreutils' words for errors
 * (`uklkl cp: cannot stat 'x': No such file or directory`) and a reporter that
 * prints them, remembers that something failed, and keeps a progress line out of
 * the way.
 *
 * Error texts are glibc's strerror() wording, which coreutils prints, looked up
 * by the error's code (the kernel's and Node's codes are the same names): a table
 * of the codes file tools meet, then libuv's text (what Node knows) with a capital
 * letter. Limits: English only, as in the C locale.
 */
import { getSystemErrorMap } from 'node:util'

/** glibc's strerror() text for the codes a copy, a listing or an archive can meet. */
const STRERROR: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  EPIPE: 'Broken pipe',
  ERANGE: 'Numerical result out of range',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  ENODATA: 'No data available',
  EOVERFLOW: 'Value too large for defined data type',
  EBADMSG: 'Bad message',
  EILSEQ: 'Invalid or incomplete multibyte or wide character',
  EOPNOTSUPP: 'Operation not supported',
  // libuv's name for the same number.
  ENOTSUP: 'Operation not supported',
  ESTALE: 'Stale file handle',
  EUCLEAN: 'Structure needs cleaning',
  EDQUOT: 'Disk quota exceeded',
  ECANCELED: 'Operation canceled',
}

const LIBUV_TEXT = new Map<string, string>([...getSystemErrorMap().values()])

/** The code of an error that has one ('ENOENT'), else null. */
export function errorCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || !('code' in error)) return null
  const { code } = error
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null
}

/** What coreutils would print after the colon: strerror's text, or the error's own message. */
export function errorText(error: unknown): string {
  const code = errorCode(error)
  if (code !== null) {
    const text = STRERROR[code] ?? LIBUV_TEXT.get(code)
    if (text !== undefined) return text.charAt(0).toUpperCase() + text.slice(1)
  }
  return error instanceof Error ? error.message : String(error)
}

/** Something that takes text: process.stderr, or a test's collector. */
export interface TextSink {
  write(text: string): unknown
}

/** A line on the terminal that messages must clear before they print (the progress line). */
export interface StatusLine {
  clear(): void
}

/** Prints `uklkl CMD: message` lines and remembers whether any was an error. */
export class Reporter {
  failed = false
  status: StatusLine | null = null

  constructor(readonly command: string, readonly stderr: TextSink) {}

  /** An error: printed, and the command's exit status becomes non-zero. */
  error(message: string): void {
    this.failed = true
    this.say(message)
  }

  /** A line that is no failure (tar's "socket ignored"). */
  say(message: string): void {
    this.status?.clear()
    this.stderr.write(`uklkl ${this.command}: ${message}\n`)
  }
}

/** 'name' quoted as coreutils quotes file names in messages. */
export function quote(name: string): string {
  return `'${name}'`
}
