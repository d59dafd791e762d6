// SPDX-License-Identifier: MIT
/**
 * tar.ts - `uklkl tar IMG[:/PATH]`: the tree at PATH in an image as a tar stream
 * (ustar, with pax headers where a name or link is too long or not ASCII; made by
 * tar-stream) written to an Output. Nothing touches the host's filesystem.
 *
 * Entries are named relative to PATH, without a leading "./" (PATH's own entry is
 * left out; a PATH that is not a directory is one entry under its last name),
 * directories first-visited and in bytewise order, with a trailing "/" as GNU
 * tar writes them. Each carries the image's mode, uid, gid and mtime (whole
 * seconds: ustar keeps no more); a file linked more than once is stored whole
 * the first time and as a hard link after, as GNU tar does; symlinks, device
 * nodes and FIFOs are entries of their kinds; sockets are left out with a note,
 * as GNU tar leaves them. A file that cannot be read is left out and reported; one
 * that fails midway is padded with zeroes to the size its header gave (GNU tar's
 * "padding with zeros"), so the archive stays readable.
 *
 * Limits: no owner names (the image's /etc/passwd is not read); no xattrs, ACLs
 * or sparse entries; tar-stream stores mtimes before 1970 or after 2106 wrongly.
 */
import tarStream, { type Header, type Pack } from 'tar-stream'
import { type Reporter, errorText, quote } from './messages.js'
import type { Output } from './output.js'
import { type DirEntry, type FileInfo, type FileSource, type Kind, type Tree, devMajor, devMinor, joinPath } from './trees.js'

/** Bytes per read: k.fs's largest chunk. */
const CHUNK = 1024 * 1024
const S_IFMT = 0o170000
const TYPES: Readonly<Record<number, Header['type']>> = {
  0o020000: 'character-device',
  0o060000: 'block-device',
  0o010000: 'fifo',
}
const S_IFSOCK = 0o140000

type Headers = Partial<Header> & Pick<Header, 'name'>
type Sink = ReturnType<Pack['entry']>

function headerOf(name: string, info: FileInfo): Headers {
  // The whole st_mode: tar-stream replaces a mode of 0 with its default, and writes only the permission bits anyway.
  return {
    name, mode: info.mode, uid: info.uid, gid: info.gid, uname: '', gname: '',
    mtime: new Date(Number(info.mtimeNs / 1_000_000_000n) * 1000),
  }
}

/** Write the tree at root (a path in tree) as a tar stream to out; errors on single files go to reporter. */
export async function writeTar(tree: Tree, root: string, out: Output, reporter: Reporter, signal?: AbortSignal): Promise<void> {
  const pack = tarStream.pack()
  const draining = (async () => {
    for await (const chunk of pack) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError('tar-stream produced something other than bytes')
      await out.write(chunk)
    }
  })()
  // If the output fails, the walk stops at its next entry.
  let outputError: unknown = null
  draining.catch((error: unknown) => {
    outputError = error
  })
  const firstLinks = new Map<string, string>()

  const entry = async (header: Headers, body?: (sink: Sink) => Promise<void>): Promise<void> => {
    if (outputError !== null) throw outputError
    let settle: (error?: Error | null) => void = () => undefined
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === null || error === undefined ? resolve() : reject(error))
    })
    const sink = pack.entry(header, (error) => settle(error))
    if (body !== undefined) {
      await body(sink)
      sink.end(null)
    }
    await done
  }

  /** Visit the node at path, archived as name; kind: what its directory's listing said it is. */
  const visit = async (path: string, name: string, kind: Kind | null): Promise<void> => {
    signal?.throwIfAborted()
    // A file is opened and then fstat'ed: no stat by path.
    if (kind === 'file') return fileEntry(path, name, null)
    let info: FileInfo
    try {
      info = await tree.lstat(path)
    } catch (error) {
      reporter.error(`${tree.name(path)}: Cannot stat: ${errorText(error)}`)
      return
    }
    const header = headerOf(name, info)
    switch (info.kind) {
      case 'dir': {
        if (name !== '') await entry({ ...header, name: `${name}/`, type: 'directory' })
        let entries: DirEntry[]
        try {
          entries = await tree.list(path)
        } catch (error) {
          reporter.error(`${tree.name(path)}: Cannot open: ${errorText(error)}`)
          return
        }
        for (const child of entries) await visit(joinPath(path, child.name), name === '' ? child.name : `${name}/${child.name}`, child.kind)
        return
      }
      case 'symlink': {
        let linkname: string
        try {
          linkname = await tree.readlink(path)
        } catch (error) {
          reporter.error(`${tree.name(path)}: Cannot readlink: ${errorText(error)}`)
          return
        }
        await entry({ ...header, type: 'symlink', linkname })
        return
      }
      case 'special': {
        const format = info.mode & S_IFMT
        const type = TYPES[format]
        if (type === undefined) {
          if (format === S_IFSOCK) reporter.say(`${tree.name(path)}: socket ignored`)
          else reporter.error(`${tree.name(path)}: Unknown file type; file ignored`)
          return
        }
        await entry({ ...header, type, devmajor: devMajor(info.rdev), devminor: devMinor(info.rdev) })
        return
      }
      case 'file':
        await fileEntry(path, name, info)
    }
  }

  /** A regular file (known: its lstat, or null to fstat it once open). */
  const fileEntry = async (path: string, name: string, known: FileInfo | null): Promise<void> => {
    let source: FileSource
    try {
      source = await tree.openRead(path)
    } catch (error) {
      reporter.error(`${tree.name(path)}: Cannot open: ${errorText(error)}`)
      return
    }
    try {
      let info: FileInfo
      try {
        info = known ?? await source.stat()
      } catch (error) {
        reporter.error(`${tree.name(path)}: Cannot stat: ${errorText(error)}`)
        return
      }
      const header = headerOf(name, info)
      const identity = `${info.dev}:${info.ino}`
      const first = info.nlink > 1 ? firstLinks.get(identity) : undefined
      if (first !== undefined) {
        await entry({ ...header, type: 'link', linkname: first })
        return
      }
      if (info.nlink > 1) firstLinks.set(identity, name)
      await entry({ ...header, type: 'file', size: info.size }, async (sink) => {
        let done = 0
        let padding = false
        while (done < info.size) {
          // A fresh buffer per chunk: tar-stream keeps a reference until the output has taken it.
          const chunk = Buffer.allocUnsafe(Math.min(CHUNK, info.size - done))
          let got = 0
          if (!padding) {
            try {
              got = await source.read(chunk)
              if (got === 0) reporter.error(`${tree.name(path)}: File shrank by ${info.size - done} bytes; padding with zeros`)
            } catch (error) {
              reporter.error(`${tree.name(path)}: Read error at byte ${done}, while reading ${chunk.length} bytes: ${errorText(error)}`)
            }
          }
          if (got === 0) {
            // The file ended early or failed: zeroes to the size the header promised.
            padding = true
            chunk.fill(0)
            got = chunk.length
          }
          done += got
          if (!sink.write(chunk.subarray(0, got))) await new Promise<void>((resolve) => sink.once('drain', () => resolve()))
        }
      })
    } finally {
      await source.close().catch(() => undefined)
    }
  }

  try {
    let rootInfo: FileInfo
    try {
      rootInfo = await tree.lstat(root)
    } catch (error) {
      reporter.error(`${quote(tree.name(root))}: Cannot stat: ${errorText(error)}`)
      return
    }
    const base = root.replace(/\/+$/, '')
    // The root's own lstat decides: a symlink given as PATH is archived as a symlink.
    await visit(root, rootInfo.kind === 'dir' ? '' : base.slice(base.lastIndexOf('/') + 1), null)
  } finally {
    pack.finalize()
    await draining
  }
}
