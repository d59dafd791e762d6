// SPDX-License-Identifier: MIT
/**
 * ls.ts - `uklkl ls [-l] [-a] IMG[:/PATH]...`: what `LC_ALL=C ls -1` and
 * `LC_ALL=C ls -ln` print for paths inside an image.
 *
 * As ls does: operands that are not directories are listed first (as given),
 * then each directory's entries, under a "PATH:" heading when there is more than
 * one operand; names starting with "." are hidden without -a (which adds . and
 * ..); entries in bytewise order; symlinks given as operands are followed without
 * -l and shown as links with it. The long form has ls -n's columns (mode, links,
 * numeric uid and gid, size or "major, minor", mtime, name, "-> target"), padded
 * to the widest entry, the date as "Mon dd HH:MM" for the last six months and
 * "Mon dd  YYYY" otherwise, in the host's time zone, after a "total" in KiB.
 *
 * Limits: one name per line (never columns), owners as numbers (the image's
 * /etc/passwd is not read), names printed raw (ls quotes odd ones on a terminal),
 * no ACL or security-context marks after the mode.
 */
import { type Reporter, errorText, quote } from './messages.js'
import type { Output } from './output.js'
import { type FileInfo, type Tree, devMajor, devMinor, joinPath } from './trees.js'

const S_IFMT = 0o170000
const TYPE_CHARS: Readonly<Record<number, string>> = {
  0o100000: '-', 0o040000: 'd', 0o120000: 'l', 0o010000: 'p', 0o140000: 's', 0o020000: 'c', 0o060000: 'b',
}
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
/** ls's "six months": half of a Gregorian year, in seconds. */
const SIX_MONTHS_S = 31_556_952 / 2

/** ls's mode column: the type, then rwx for owner, group and others with the set-id and sticky bits. */
export function modeString(mode: number): string {
  const bit = (mask: number, char: string): string => ((mode & mask) !== 0 ? char : '-')
  const special = (exec: number, flag: number, set: string): string => {
    const x = (mode & exec) !== 0
    if ((mode & flag) === 0) return x ? 'x' : '-'
    return x ? set : set.toUpperCase()
  }
  return (TYPE_CHARS[mode & S_IFMT] ?? '?')
    + bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's')
    + bit(0o040, 'r') + bit(0o020, 'w') + special(0o010, 0o2000, 's')
    + bit(0o004, 'r') + bit(0o002, 'w') + special(0o001, 0o1000, 't')
}

/** ls's date column for a time (ns since 1970) seen at now (ms). */
export function dateString(mtimeNs: bigint, now: number): string {
  const seconds = Number(mtimeNs / 1_000_000_000n)
  const date = new Date(seconds * 1000)
  const day = String(date.getDate()).padStart(2, ' ')
  const recent = seconds > now / 1000 - SIX_MONTHS_S && seconds <= now / 1000
  const tail = recent
    ? `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`
    : ` ${date.getFullYear()}`
  return `${MONTHS[date.getMonth()] ?? '???'} ${day} ${tail}`
}

/** What a row without -l carries: nothing of it is printed. */
const NO_INFO: FileInfo = {
  kind: 'file', mode: 0, uid: 0, gid: 0, size: 0, nlink: 0, blocks: 0, dev: 0n, ino: 0n, rdev: 0n, atimeNs: 0n, mtimeNs: 0n,
}

interface Row {
  name: string
  info: FileInfo
  target: string | null
}

/** ls -n's lines for rows, columns padded to the widest. */
export function longLines(rows: readonly Row[], now: number): string[] {
  const isDevice = (info: FileInfo): boolean => [0o020000, 0o060000].includes(info.mode & S_IFMT)
  const devices = rows.filter((r) => isDevice(r.info))
  const majorWidth = Math.max(0, ...devices.map((r) => String(devMajor(r.info.rdev)).length))
  const minorWidth = Math.max(0, ...devices.map((r) => String(devMinor(r.info.rdev)).length))
  const cells = rows.map(({ name, info, target }) => ({
    mode: modeString(info.mode),
    links: String(info.nlink),
    uid: String(info.uid),
    gid: String(info.gid),
    size: isDevice(info)
      ? `${String(devMajor(info.rdev)).padStart(majorWidth)}, ${String(devMinor(info.rdev)).padStart(minorWidth)}`
      : String(info.size),
    date: dateString(info.mtimeNs, now),
    name: target === null ? name : `${name} -> ${target}`,
  }))
  const width = (key: 'links' | 'uid' | 'gid' | 'size'): number => Math.max(0, ...cells.map((c) => c[key].length))
  const [links, uid, gid, size] = [width('links'), width('uid'), width('gid'), width('size')]
  return cells.map((c) =>
    `${c.mode} ${c.links.padStart(links)} ${c.uid.padStart(uid)} ${c.gid.padStart(gid)} ${c.size.padStart(size)} ${c.date} ${c.name}`)
}

export interface LsOptions {
  long: boolean
  all: boolean
  /** The clock of the date column (ms since 1970). */
  now?: number
}

/**
 * List paths (in tree) to out, as ls does; resolves with ls's exit status: 0, 1
 * (an entry could not be read), 2 (an operand could not be).
 */
export async function list(tree: Tree, paths: readonly string[], options: LsOptions, out: Output, reporter: Reporter): Promise<number> {
  const now = options.now ?? Date.now()
  let status = 0
  const row = async (path: string, name: string): Promise<Row | null> => {
    // Without -l a name is all there is to print: no stat.
    if (!options.long) return { name, info: NO_INFO, target: null }
    try {
      const info = await tree.lstat(path)
      return { name, info, target: info.kind === 'symlink' ? await tree.readlink(path) : null }
    } catch (error) {
      reporter.error(`cannot access ${quote(tree.name(path))}: ${errorText(error)}`)
      status = Math.max(status, 1)
      return null
    }
  }
  const print = async (rows: readonly Row[], total: boolean): Promise<void> => {
    if (!options.long) {
      for (const r of rows) await out.write(`${r.name}\n`)
      return
    }
    if (total) await out.write(`total ${Math.ceil(rows.reduce((sum, r) => sum + r.info.blocks, 0) / 2)}\n`)
    for (const line of longLines(rows, now)) await out.write(`${line}\n`)
  }

  const files: Row[] = []
  const dirs: string[] = []
  for (const path of paths) {
    let info: FileInfo
    try {
      // Without -l a symlink operand is followed (to list the directory it names); a dangling one is shown as itself.
      info = options.long ? await tree.lstat(path) : await tree.stat(path).catch(() => tree.lstat(path))
    } catch (error) {
      reporter.error(`cannot access ${quote(tree.name(path))}: ${errorText(error)}`)
      status = 2
      continue
    }
    if (info.kind === 'dir') {
      dirs.push(path)
    } else {
      const r = await row(path, path)
      if (r !== null) files.push(r)
    }
  }
  files.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
  await print(files, false)
  const headings = paths.length > 1
  for (const [i, dir] of dirs.entries()) {
    let names: string[]
    try {
      names = (await tree.list(dir)).map((entry) => entry.name)
    } catch (error) {
      reporter.error(`cannot open directory ${quote(tree.name(dir))}: ${errorText(error)}`)
      status = 2
      continue
    }
    if (files.length > 0 || i > 0) await out.write('\n')
    if (headings) await out.write(`${dir}:\n`)
    const shown = options.all ? ['.', '..', ...names] : names.filter((n) => !n.startsWith('.'))
    const rows: Row[] = []
    for (const name of shown) {
      const r = await row(name === '.' ? dir : joinPath(dir, name), name)
      if (r !== null) rows.push(r)
    }
    await print(rows, true)
  }
  return status
}
