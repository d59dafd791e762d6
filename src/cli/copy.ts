// SPDX-License-Identifier: MIT
/**
 * copy.ts - `cp -R [-p]` from one Tree into another (the host into an image, or
 * back), with coreutils' rules and messages:
 *   - an existing directory as DST receives each SRC under its own name (SRC/.
 *     and an image's root give their contents); otherwise a single SRC becomes
 *     DST; several SRCs need a directory;
 *   - directories are copied recursively (always, as LKL's cptofs does), symlinks
 *     as symlinks (cp -R's -P), device nodes, FIFOs and sockets as nodes;
 *   - a file over an existing file truncates it; a symlink or node replaces a
 *     non-directory; a directory merges into an existing one; a directory and a
 *     non-directory never replace each other;
 *   - without -p, a new file gets SRC's permission bits (not its set-id and
 *     sticky bits) less the umask, the copier's owner and the current time; a new
 *     directory is writable by its owner while it fills and gets SRC's mode less
 *     the umask after; with -p, owner, mode (set-id bits included) and
 *     atime/mtime are SRC's: owner first (chown clears set-id bits), then mode,
 *     then times, a directory's after its contents (which change its mtime).
 * An error on one file is reported and the copy goes on; the caller exits 1.
 *
 * Speed: a file that a directory listing calls a file, going into a directory
 * this copy made, is opened and fstat'ed (no stat by path, no look at the
 * target) and its first chunk read in one go; with a source that allows it
 * (Tree.readAhead: an image), several such files are opened and read ahead of
 * the one being written, so that their waits on the disk overlap. Targets are
 * still written one at a time, in listing order: the same tree always makes the
 * same image.
 *
 * Limits: hard links are copied as separate files (cp -p does not keep them
 * either); holes are written out as zeroes; ACLs, xattrs and file flags are not
 * copied; a directory is not checked for being copied into itself (the two
 * trees are different filesystems).
 */
import { type Reporter, errorCode, errorText, quote } from './messages.js'
import type { Progress } from './progress.js'
import { type DirEntry, type FileInfo, type FileSource, type FileTarget, type Tree, joinPath } from './trees.js'

export interface CopyOptions {
  /** -p: keep mode, owner and times. */
  preserve: boolean
  reporter: Reporter
  /** Counted as the copy goes; null on no terminal. */
  progress?: Progress | null
  /** Stops the copy between two files (SIGINT). */
  signal?: AbortSignal
}

export interface CopyTotals {
  files: number
  bytes: number
}

/** Bytes per read and write: k.fs's largest chunk, so each is one syscall. */
const BUFFER_BYTES = 1024 * 1024
const S_IRWXU = 0o700
const S_ISUID = 0o4000
const S_ISGID = 0o2000
const PERMISSIONS = 0o7777

/** The name a source is copied under inside a directory: its last component ('' for SRC/. and a root: its contents). */
function lastName(path: string): string {
  const trimmed = path.replace(/\/+$/, '')
  const name = trimmed.slice(trimmed.lastIndexOf('/') + 1)
  return name === '.' ? '' : name
}

async function statOrNull(tree: Tree, path: string, follow: boolean): Promise<FileInfo | null> {
  try {
    return await (follow ? tree.stat(path) : tree.lstat(path))
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null
    throw error
  }
}

/** Files and bytes under sources (for the progress bar's totals); what cannot be read counts nothing. */
export async function countTrees(tree: Tree, sources: readonly string[]): Promise<CopyTotals> {
  const totals = { files: 0, bytes: 0 }
  const visit = async (path: string): Promise<void> => {
    const info = await tree.lstat(path).catch(() => null)
    if (info === null) return
    totals.files++
    if (info.kind === 'file') totals.bytes += info.size
    if (info.kind !== 'dir') return
    for (const entry of await tree.list(path).catch(() => [])) await visit(joinPath(path, entry.name))
  }
  for (const source of sources) await visit(source)
  return totals
}

/** A source file opened (and its first chunk read) ahead of its copy, or what failed. */
type Opened =
  | { ok: true, source: string, input: FileSource, info: FileInfo, head: Buffer, whole: Buffer, ended: boolean, readError: unknown }
  | { ok: false, message: string, error: unknown }

/** A copy between two trees; run() does it. */
export class TreeCopy {
  readonly #from: Tree
  readonly #to: Tree
  readonly #options: CopyOptions
  readonly #buffer = Buffer.allocUnsafe(BUFFER_BYTES)
  /**
   * Buffers that first chunks were read into, free again: one per file in flight,
   * used over and over (a fresh one per file made about as much garbage as the
   * tree has bytes, and its collection was a tenth of a copy's time).
   */
  readonly #heads: Buffer[] = []
  /** Files opened ahead and not yet copied, in all directories (bounded by the source's readAhead). */
  #ahead = 0
  readonly totals: CopyTotals = { files: 0, bytes: 0 }

  constructor(from: Tree, to: Tree, options: CopyOptions) {
    this.#from = from
    this.#to = to
    this.#options = options
  }

  #error(message: string, error: unknown): void {
    this.#options.reporter.error(`${message}: ${errorText(error)}`)
  }

  /** Copy each source (a path in from) to dest (a path in to), as cp SRC... DEST does. */
  async run(sources: readonly string[], dest: string): Promise<CopyTotals> {
    const to = this.#to
    let destInfo: FileInfo | null
    try {
      destInfo = await statOrNull(to, dest, true)
    } catch (error) {
      this.#error(`cannot stat ${quote(to.name(dest))}`, error)
      return this.totals
    }
    const intoDirectory = destInfo?.kind === 'dir'
    if (!intoDirectory && sources.length > 1) {
      this.#options.reporter.error(destInfo === null
        ? `target ${quote(to.name(dest))}: ${errorText({ code: 'ENOENT' })}`
        : `target ${quote(to.name(dest))} is not a directory`)
      return this.totals
    }
    for (const source of sources) {
      this.#options.signal?.throwIfAborted()
      let info: FileInfo
      try {
        info = await this.#from.lstat(source)
      } catch (error) {
        this.#error(`cannot stat ${quote(this.#from.name(source))}`, error)
        continue
      }
      if (!intoDirectory && dest.endsWith('/') && info.kind !== 'dir') {
        // A trailing slash promises a directory that is not there (open would say EISDIR; cp says this).
        this.#options.reporter.error(`cannot create ${info.kind === 'file' ? 'regular file' : 'special file'} ${quote(to.name(dest))}: ${errorText({ code: 'ENOTDIR' })}`)
        continue
      }
      const name = lastName(source)
      const target = !intoDirectory ? dest : name === '' ? dest : joinPath(dest, name)
      await this.#copy(source, info, target, false)
    }
    return this.totals
  }

  /**
   * Copy the node at source (described by info) to target. fresh: target's
   * directory was made by this copy, so nothing is there yet to look at.
   */
  async #copy(source: string, info: FileInfo, target: string, fresh: boolean): Promise<void> {
    this.#options.signal?.throwIfAborted()
    let existing: FileInfo | null = null
    if (!fresh) {
      try {
        existing = await statOrNull(this.#to, target, false)
      } catch (error) {
        this.#error(`cannot stat ${quote(this.#to.name(target))}`, error)
        return
      }
    }
    if (info.kind === 'dir') {
      await this.#copyDirectory(source, info, target, existing)
    } else if (existing?.kind === 'dir') {
      this.#options.reporter.error(`cannot overwrite directory ${quote(this.#to.name(target))} with non-directory`)
    } else if (info.kind === 'file') {
      await this.#copyFile(await this.#open(source, info), target)
    } else {
      await this.#copyNode(source, info, target, existing !== null)
    }
    this.#done()
  }

  #done(): void {
    this.totals.files++
    this.#options.progress?.fileDone()
  }

  async #copyDirectory(source: string, info: FileInfo, target: string, existing: FileInfo | null): Promise<void> {
    const from = this.#from
    const to = this.#to
    if (existing !== null && existing.kind !== 'dir') {
      // A symlink to a directory is still no directory to cp -R (which does not follow it).
      this.#options.reporter.error(`cannot overwrite non-directory ${quote(to.name(target))} with directory ${quote(from.name(source))}`)
      return
    }
    const created = existing === null
    const mode = info.mode & PERMISSIONS
    if (created) {
      try {
        // Writable by its owner while it fills, whatever its own mode (cp's S_IRWXU); the mode comes after.
        await to.mkdir(target, mode | S_IRWXU)
      } catch (error) {
        this.#error(`cannot create directory ${quote(to.name(target))}`, error)
        return
      }
    }
    let entries: DirEntry[] = []
    try {
      entries = await from.list(source)
    } catch (error) {
      this.#error(`cannot access ${quote(from.name(source))}`, error)
    }
    // Files whose listing says "file", going into a directory this copy made (nothing there to look at):
    // opened, fstat'ed and first read without a stat by path, up to readAhead of them (in all) ahead of the copy.
    const direct = (i: number): string | null => {
      const entry = entries[i]
      return created && entry?.kind === 'file' ? joinPath(source, entry.name) : null
    }
    const ahead = new Map<number, Promise<Opened>>()
    let next = 0
    try {
      for (const [i, { name }] of entries.entries()) {
        this.#options.signal?.throwIfAborted()
        const child = joinPath(source, name)
        const childTarget = joinPath(target, name)
        let opened = ahead.get(i)
        if (opened !== undefined) {
          ahead.delete(i)
          this.#ahead--
        } else if (direct(i) !== null) {
          opened = this.#open(child, null)
        }
        for (next = Math.max(next, i + 1); next < entries.length && this.#ahead < from.readAhead; next++) {
          const path = direct(next)
          if (path === null) continue
          ahead.set(next, this.#open(path, null))
          this.#ahead++
        }
        if (opened !== undefined) {
          await this.#copyFile(await opened, childTarget)
          this.#done()
          continue
        }
        let childInfo: FileInfo
        try {
          childInfo = await from.lstat(child)
        } catch (error) {
          this.#error(`cannot stat ${quote(from.name(child))}`, error)
          continue
        }
        await this.#copy(child, childInfo, childTarget, created)
      }
    } finally {
      // Interrupted: what was read ahead is let go.
      this.#ahead -= ahead.size
      for (const opened of ahead.values()) await opened.then((o) => (o.ok ? o.input.close() : undefined)).catch(() => undefined)
    }
    if (this.#options.preserve) {
      await this.#preserveByPath(target, info, true)
    } else if (created && (mode | S_IRWXU) !== mode) {
      await this.#step('setting permissions for', target, () => to.chmod(target, mode & ~to.umask))
    }
  }

  /**
   * Open source and read its first chunk: nothing is reported here (this may run
   * ahead of the copy), the result says what failed. known: its lstat, or null to
   * fstat it once open. The first read asks for the file's size plus a byte, so
   * that a whole file ends in one short read: every byte asked of the kernel is
   * staged and copied back whole, so asking 1 MiB of a 2 KiB file would copy 2 MiB.
   */
  async #open(source: string, known: FileInfo | null): Promise<Opened> {
    const from = this.#from
    let input: FileSource
    try {
      input = await from.openRead(source)
    } catch (error) {
      return { ok: false, message: `cannot open ${quote(from.name(source))} for reading`, error }
    }
    let info: FileInfo
    try {
      info = known ?? await input.stat()
    } catch (error) {
      await input.close().catch(() => undefined)
      return { ok: false, message: `cannot fstat ${quote(from.name(source))}`, error }
    }
    const whole = this.#heads.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES)
    const head = whole.subarray(0, Math.min(BUFFER_BYTES, info.size + 1))
    try {
      const got = await input.read(head)
      return { ok: true, source, input, info, head: head.subarray(0, got), whole, ended: got < head.length && input.shortReadEnds, readError: null }
    } catch (error) {
      return { ok: true, source, input, info, head: head.subarray(0, 0), whole, ended: true, readError: error }
    }
  }

  /** A regular file's data (and with -p its metadata), from what #open found. */
  async #copyFile(opened: Opened, target: string): Promise<void> {
    if (!opened.ok) {
      this.#error(opened.message, opened.error)
      return
    }
    const { input, info } = opened
    const to = this.#to
    try {
      let output: FileTarget
      try {
        // Without -p, cp drops the set-id and sticky bits of a file (and the umask cuts the rest); -p sets them after.
        output = await to.create(target, info.mode & 0o777)
      } catch (error) {
        this.#error(`cannot create regular file ${quote(to.name(target))}`, error)
        return
      }
      let closed = false
      try {
        if (!await this.#copyData(opened, output, target)) return
        if (this.#options.preserve) {
          await this.#chown(target, () => output.chown(info.uid, info.gid))
          await this.#step('preserving permissions for', target, () => output.chmod(this.#preservedMode(info)))
          await this.#step('preserving times for', target, () => output.setTimes(info.atimeNs, info.mtimeNs))
        }
        closed = true
        await output.close()
      } catch (error) {
        this.#error(`failed to close ${quote(to.name(target))}`, error)
      } finally {
        if (!closed) await output.close().catch(() => undefined)
      }
    } finally {
      // Its bytes are written (or never will be): the head's buffer serves another file.
      if (this.#heads.length <= this.#from.readAhead) this.#heads.push(opened.whole)
      await input.close().catch(() => undefined)
    }
  }

  /** The first chunk #open read, then the rest, onto output; false (reported) if a read or write failed. */
  async #copyData(opened: Opened & { ok: true }, output: FileTarget, target: string): Promise<boolean> {
    const { source, input, info } = opened
    const write = async (bytes: Uint8Array): Promise<boolean> => {
      try {
        await output.write(bytes)
      } catch (error) {
        this.#error(`error writing ${quote(this.#to.name(target))}`, error)
        return false
      }
      this.totals.bytes += bytes.length
      this.#options.progress?.addBytes(bytes.length)
      return true
    }
    const readError = (error: unknown): boolean => {
      this.#error(`error reading ${quote(this.#from.name(source))}`, error)
      return false
    }
    if (opened.head.length > 0 && !await write(opened.head)) return false
    if (opened.readError !== null) return readError(opened.readError)
    if (opened.ended || opened.head.length === 0) return true
    const buffer = this.#buffer
    for (let done = opened.head.length; ;) {
      // What is left of the size, and a byte: see #open.
      const want = Math.min(buffer.length, Math.max(info.size - done, 0) + 1)
      let got: number
      try {
        got = await input.read(buffer.subarray(0, want))
      } catch (error) {
        return readError(error)
      }
      if (got === 0) return true
      if (!await write(buffer.subarray(0, got))) return false
      done += got
      if (got < want && input.shortReadEnds) return true
    }
  }

  /** A symlink, device node, FIFO or socket at target (replacing a non-directory there). */
  async #copyNode(source: string, info: FileInfo, target: string, replace: boolean): Promise<void> {
    const from = this.#from
    const to = this.#to
    let linkTarget = ''
    if (info.kind === 'symlink') {
      try {
        linkTarget = await from.readlink(source)
      } catch (error) {
        this.#error(`cannot read symbolic link ${quote(from.name(source))}`, error)
        return
      }
    }
    if (replace) {
      try {
        await to.unlink(target)
      } catch (error) {
        this.#error(`cannot remove ${quote(to.name(target))}`, error)
        return
      }
    }
    try {
      if (info.kind === 'symlink') await to.symlink(linkTarget, target)
      // The tree's umask cuts the mode (the kernel's is the host's), as cp's mknod has it; -p sets it after.
      else await to.mknod(target, info.mode, info.rdev)
    } catch (error) {
      const what = info.kind === 'symlink' ? 'symbolic link' : (info.mode & 0o170000) === 0o010000 ? 'fifo' : 'special file'
      this.#error(`cannot create ${what} ${quote(to.name(target))}`, error)
      return
    }
    if (this.#options.preserve) await this.#preserveByPath(target, info, info.kind !== 'symlink')
  }

  /** -p on a path: owner, then mode (not for symlinks, whose mode means nothing), then times. */
  async #preserveByPath(target: string, info: FileInfo, withMode: boolean): Promise<void> {
    const to = this.#to
    await this.#chown(target, () => to.lchown(target, info.uid, info.gid))
    if (withMode) await this.#step('preserving permissions for', target, () => to.chmod(target, this.#preservedMode(info)))
    await this.#step('preserving times for', target, () => to.lsetTimes(target, info.atimeNs, info.mtimeNs))
  }

  #ownerKept = true

  /** chown, reported only where it must work (cp -p says nothing when an ordinary user cannot give a file away). */
  async #chown(target: string, chown: () => Promise<void>): Promise<void> {
    try {
      await chown()
      this.#ownerKept = true
    } catch (error) {
      this.#ownerKept = false
      const code = errorCode(error)
      if (this.#to.mustChown || (code !== 'EPERM' && code !== 'EINVAL')) {
        this.#error(`failed to preserve ownership for ${quote(this.#to.name(target))}`, error)
      }
    }
  }

  /** SRC's mode; without the set-id bits when the owner could not be kept (they would give away rights), as cp does. */
  #preservedMode(info: FileInfo): number {
    const mode = info.mode & PERMISSIONS
    return this.#ownerKept ? mode : mode & ~(S_ISUID | S_ISGID)
  }

  async #step(what: string, target: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn()
    } catch (error) {
      this.#error(`${what} ${quote(this.#to.name(target))}`, error)
    }
  }
}
