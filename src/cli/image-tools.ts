// SPDX-License-Identifier: MIT
/**
 * image-tools.ts - `uklkl cp | ls | cat | tar`: files into and out of filesystem
 * images without root, loop devices or FUSE, as LKL's cptofs/cpfromfs and
 * fs2tar do, through a kernel booted for the one command (openImage).
 *
 *   cp [-p] SRC... IMG:/DST      host → image (directories recursively; copy.ts)
 *   cp [-p] IMG:/SRC... DST      image → host
 *   ls [-l] [-a] IMG[:/PATH]...  list (ls.ts)
 *   cat IMG:/FILE...             bytes to stdout
 *   tar IMG[:/PATH]              a tar stream to stdout (tar.ts)
 *   --fstype T, --partition N, --read-only
 *
 * ls, cat, tar and cp out of an image open it read-only; cp into one writes
 * (unless --read-only, when every write fails with EROFS). Messages and exit
 * statuses are coreutils': 0; 1 when something failed (each file's error is
 * reported and the rest goes on, as cp's are); 2 for bad usage, with a usage
 * line (ls also for an operand it cannot access); 130 when interrupted (SIGINT,
 * through io.signal: the image is still unmounted cleanly). An image that cannot
 * be opened or mounted is one message, with the kernel's own lines about it, and
 * exit 1. Without -p, cp into an image gives new files the host's umask (the
 * kernel's is set to it) and root as their owner.
 *
 * Limits: one image per command; a progress line only on a terminal (stderr),
 * for cp; an ext4 image whose journal needs recovery does not mount read-only
 * (the kernel would have to write the journal back): copy into it once, or run
 * e2fsck, first.
 */
import { stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { openImage, type OpenImageOptions, type OpenedImage } from '../image.js'
import { ImageLockedError, UklklError } from '../errors.js'
import { TreeCopy, countTrees } from './copy.js'
import { list } from './ls.js'
import { Reporter, errorText, quote } from './messages.js'
import { type ImageOperand, imageOperand } from './operands.js'
import { Output } from './output.js'
import { Progress } from './progress.js'
import { writeTar } from './tar.js'
import { type FileSource, HostTree, ImageTree, hostUmask } from './trees.js'

export const IMAGE_TOOLS = ['cp', 'ls', 'cat', 'tar'] as const
export type ImageToolName = typeof IMAGE_TOOLS[number]

/** Bytes per read of cat: k.fs's largest chunk. */
const CAT_CHUNK = 1024 * 1024
const IMAGE_OPTIONS = '[--fstype T] [--partition N] [--read-only]'

/** Each tool's usage line. */
export const TOOL_USAGE: Readonly<Record<ImageToolName, string>> = {
  cp: `uklkl cp [-p] ${IMAGE_OPTIONS} SRC... IMG:/DST | IMG:/SRC... DST`,
  ls: `uklkl ls [-l] [-a] ${IMAGE_OPTIONS} IMG[:/PATH]...`,
  cat: `uklkl cat ${IMAGE_OPTIONS} IMG:/FILE...`,
  tar: `uklkl tar ${IMAGE_OPTIONS} IMG[:/PATH] > out.tar`,
}

/** Where a tool reads its terminal and writes its output. */
export interface ToolIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }
  /** Aborted by SIGINT: the tool stops between two files, closes the image and exits 130. */
  signal?: AbortSignal
  /** Options of the kernel that serves the image (memory, ...). */
  kernel?: OpenImageOptions['kernel']
}

const COMMON = {
  'fstype': { type: 'string' },
  'partition': { type: 'string' },
  'read-only': { type: 'boolean' },
  'help': { type: 'boolean', short: 'h' },
} as const

const OPTIONS = {
  // -r and -R are what cp users type; copies are recursive anyway (as cptofs's are).
  cp: { ...COMMON, p: { type: 'boolean', short: 'p' }, r: { type: 'boolean', short: 'r' }, R: { type: 'boolean', short: 'R' } },
  ls: { ...COMMON, l: { type: 'boolean', short: 'l' }, a: { type: 'boolean', short: 'a' } },
  cat: COMMON,
  tar: COMMON,
} as const

/** Bad usage: reported with the usage line, exit 2. */
class UsageError extends Error {}

/** parseArgs's complaint as coreutils words it. */
function usageMessage(error: Error): string {
  const unknown = /Unknown option '([^']+)'/.exec(error.message)
  if (unknown?.[1] !== undefined) return `unrecognized option ${quote(unknown[1])}`
  const missing = /Option '(-\S+)[^']*' argument missing/.exec(error.message)
  if (missing?.[1] !== undefined) return `option ${quote(missing[1].replace(/^-\w, /, ''))} requires an argument`
  return error.message
}

interface Parsed {
  flags: Record<string, unknown>
  operands: string[]
  image: Pick<OpenImageOptions, 'fstype' | 'partition'>
}

function parse(name: ImageToolName, args: readonly string[]): Parsed {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], options: OPTIONS[name], allowPositionals: true, strict: true })
  } catch (error) {
    if (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) throw new UsageError(usageMessage(error))
    throw error
  }
  const flags: Record<string, unknown> = parsed.values
  const image: Parsed['image'] = {}
  const fstype = flags.fstype
  if (typeof fstype === 'string') image.fstype = fstype
  const partition = flags.partition
  if (typeof partition === 'string') {
    if (!/^[1-9][0-9]*$/.test(partition)) throw new UsageError(`invalid partition number ${quote(partition)}`)
    image.partition = Number(partition)
  }
  return { flags, operands: parsed.positionals, image }
}

/** The kernel's lines about a failed mount: its filesystem and block messages. */
function kernelComplaints(log: string): string[] {
  return log.split('\n')
    .map((line) => line.replace(/^\[\s*[\d.]+\]\s*/, '').trim())
    .filter((line) => /\bvd[a-z]\d*\b|EXT4-fs|FAT-fs|VFS:|I\/O error|Buffer I\/O/.test(line))
    .slice(-8)
}

/** Open the image, run fn on it, close it (unmount, halt); null (reported) when it cannot be opened. */
async function withImage<T>(
  reporter: Reporter, image: string, options: OpenImageOptions, io: ToolIO, fn: (opened: OpenedImage) => Promise<T>,
): Promise<T | null> {
  try {
    // The host's own complaint about the file reads better than the disk's.
    if ((await stat(image)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
  } catch (error) {
    reporter.error(`cannot open image ${quote(image)}: ${errorText(error)}`)
    return null
  }
  let kernelLog = ''
  let opened: OpenedImage
  try {
    opened = await openImage(image, {
      ...options,
      // The command is all this process does: its disk's I/O may hold the JS thread.
      synchronous: true,
      kernel: {
        ...io.kernel,
        onConsole: (text) => {
          kernelLog = (kernelLog + text).slice(-64 * 1024)
          io.kernel?.onConsole?.(text)
        },
      },
    })
  } catch (error) {
    if (error instanceof ImageLockedError) {
      reporter.error(`cannot open image ${quote(image)}: ${error.message}`)
    } else if (error instanceof UklklError) {
      const lines = kernelComplaints(kernelLog).map((line) => `\n  kernel: ${line}`).join('')
      reporter.error(`cannot mount ${quote(image)}: ${error.message}${lines}`)
    } else {
      reporter.error(`cannot open image ${quote(image)}: ${errorText(error)}`)
    }
    return null
  }
  try {
    return await fn(opened)
  } finally {
    await opened.close().catch((error: unknown) => {
      reporter.error(`cannot close image ${quote(image)}: ${errorText(error)}`)
    })
  }
}

/** All operands in one image, or a UsageError. */
function oneImage(operands: readonly ImageOperand[]): string {
  const images = new Set(operands.map((o) => o.image))
  const [image] = images
  if (images.size !== 1 || image === undefined) throw new UsageError('all operands must be in one image')
  return image
}

async function cp(p: Parsed, io: ToolIO, reporter: Reporter): Promise<number> {
  const { operands } = p
  const dest = operands[operands.length - 1]
  if (dest === undefined) throw new UsageError('missing file operand')
  const sources = operands.slice(0, -1)
  if (sources.length === 0) throw new UsageError(`missing destination file operand after ${quote(dest)}`)
  const destImage = imageOperand(dest, false)
  const sourceImages = sources.map((s) => imageOperand(s, false))
  const preserve = p.flags.p === true
  const host = new HostTree()
  const run = async (from: HostTree | ImageTree, to: HostTree | ImageTree, paths: string[], target: string): Promise<void> => {
    let progress: Progress | null = null
    if (io.stderr.isTTY === true) {
      progress = new Progress(io.stderr, await countTrees(from, paths), io.stderr.columns ?? 80)
      reporter.status = progress
    }
    try {
      await new TreeCopy(from, to, { preserve, reporter, progress, ...(io.signal === undefined ? {} : { signal: io.signal }) }).run(paths, target)
    } finally {
      progress?.clear()
      reporter.status = null
    }
  }

  if (destImage !== null && sourceImages.every((s) => s === null)) {
    const readOnly = p.flags['read-only'] === true
    await withImage(reporter, destImage.image, { ...p.image, readOnly }, io, async (opened) => {
      // cp without -p makes modes with the user's umask: the kernel's becomes the host's.
      const umask = hostUmask()
      await opened.kernel.sys.umask(umask)
      await run(host, new ImageTree(destImage.image, opened.fs, opened.kernel, umask), sources, destImage.path)
    })
  } else if (destImage === null && sourceImages.every((s) => s !== null)) {
    const inImage = sourceImages.filter((s) => s !== null)
    const image = oneImage(inImage)
    await withImage(reporter, image, { ...p.image, readOnly: true }, io, async (opened) => {
      await run(new ImageTree(image, opened.fs, opened.kernel, 0), host, inImage.map((s) => s.path), dest)
    })
  } else {
    throw new UsageError('copy between the host and one image: SRC... IMG:/DST, or IMG:/SRC... DST')
  }
  return reporter.failed ? 1 : 0
}

/** The image and paths of ls/cat/tar operands (IMG alone is its root where bare is allowed). */
function imagePaths(operands: readonly string[], bare: boolean): { image: string, paths: string[] } {
  const parsed = operands.map((o) => {
    const operand = imageOperand(o, bare)
    if (operand === null) throw new UsageError(`${quote(o)} is not IMG:/PATH`)
    return operand
  })
  return { image: oneImage(parsed), paths: parsed.map((o) => o.path) }
}

async function ls(p: Parsed, io: ToolIO, reporter: Reporter): Promise<number> {
  if (p.operands.length === 0) throw new UsageError('missing operand')
  const { image, paths } = imagePaths(p.operands, true)
  const out = new Output(io.stdout)
  const status = await withImage(reporter, image, { ...p.image, readOnly: true }, io, async (opened) => {
    const status = await list(new ImageTree(image, opened.fs, opened.kernel, 0), paths, { long: p.flags.l === true, all: p.flags.a === true }, out, reporter)
    await out.finish()
    return status
  })
  return status ?? 1
}

async function cat(p: Parsed, io: ToolIO, reporter: Reporter): Promise<number> {
  if (p.operands.length === 0) throw new UsageError('missing operand')
  const { image, paths } = imagePaths(p.operands, false)
  const out = new Output(io.stdout)
  await withImage(reporter, image, { ...p.image, readOnly: true }, io, async (opened) => {
    const tree = new ImageTree(image, opened.fs, opened.kernel, 0)
    for (const path of paths) {
      io.signal?.throwIfAborted()
      let source: FileSource
      try {
        source = await tree.openRead(path)
      } catch (error) {
        reporter.error(`${tree.name(path)}: ${errorText(error)}`)
        continue
      }
      try {
        // The size only sizes the reads (what is staged for the kernel is copied whole both ways); the end is a short read.
        const size = await source.stat().then((info) => info.size, () => 0)
        for (let done = 0; ;) {
          // A fresh buffer per chunk: a stream may hold on to what it was given.
          const chunk = Buffer.allocUnsafe(Math.min(CAT_CHUNK, Math.max(size - done, 0) + 1))
          let got: number
          try {
            got = await source.read(chunk)
          } catch (error) {
            reporter.error(`${tree.name(path)}: ${errorText(error)}`)
            break
          }
          if (got > 0) await out.write(chunk.subarray(0, got))
          done += got
          if (got < chunk.length) break
        }
      } finally {
        await source.close().catch(() => undefined)
      }
    }
    await out.finish()
  })
  return reporter.failed ? 1 : 0
}

async function tar(p: Parsed, io: ToolIO, reporter: Reporter): Promise<number> {
  if (p.operands.length !== 1) throw new UsageError(p.operands.length === 0 ? 'missing operand' : 'one IMG[:/PATH] at a time')
  if (io.stdout.isTTY === true) {
    // As GNU tar does: an archive on a terminal is of no use to anyone.
    reporter.error('refusing to write archive contents to terminal (redirect stdout to a file or a pipe)')
    return 2
  }
  const { image, paths } = imagePaths(p.operands, true)
  const out = new Output(io.stdout)
  await withImage(reporter, image, { ...p.image, readOnly: true }, io, async (opened) => {
    await writeTar(new ImageTree(image, opened.fs, opened.kernel, 0), paths[0] ?? '/', out, reporter, io.signal)
    await out.finish()
  })
  return reporter.failed ? 1 : 0
}

const TOOLS: Readonly<Record<ImageToolName, (p: Parsed, io: ToolIO, reporter: Reporter) => Promise<number>>> = { cp, ls, cat, tar }

/** Run `uklkl NAME ARGS...`; resolves with its exit status. */
export async function imageTool(name: ImageToolName, args: readonly string[], io: ToolIO): Promise<number> {
  const reporter = new Reporter(name, io.stderr)
  try {
    const parsed = parse(name, args)
    if (parsed.flags.help === true) {
      io.stdout.write(`usage: ${TOOL_USAGE[name]}\n`)
      return 0
    }
    return await TOOLS[name](parsed, io, reporter)
  } catch (error) {
    if (error instanceof UsageError) {
      reporter.error(error.message)
      io.stderr.write(`usage: ${TOOL_USAGE[name]}\n`)
      return 2
    }
    if (io.signal?.aborted === true && error === io.signal.reason) {
      reporter.error('interrupted')
      return 130
    }
    if (error instanceof Error && 'code' in error && error.code === 'EPIPE') {
      reporter.error(`write error: ${errorText(error)}`)
      return 1
    }
    reporter.error(errorText(error))
    return 1
  }
}
