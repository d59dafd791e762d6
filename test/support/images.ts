// SPDX-License-Identifier: MIT
/**
 * images.ts - disk image fixtures for the disk tests and the disk bench, made and
 * checked only with tools nobody on this project wrote (e2fsprogs, dosfstools,
 * mtools, sfdisk: `scripts/install-toolchain.sh --test-tools` installs them):
 *   seededTree, manifestOf, contentsOf   a deterministic tree of files; what a tree holds
 *   makeExt4, makeVfat, partitioned      whole-disk filesystems; MBR or GPT disks
 *   partitionTable, extractPartition     a disk's table as sfdisk reads it; one partition's bytes
 *   readBack, fsck                       what an image holds (debugfs rdump, mcopy); whether
 *                                        e2fsck -fn / fsck.vfat -n call it clean
 *   corruptImages                        seeded damaged variants of an ext4 or vfat image
 *
 * The tools run as child processes, asynchronously, so that a kernel booted in the
 * same process keeps running meanwhile; a tool that fails rejects with its command
 * line and output. seededTree and manifestOf use the host's fs synchronously.
 *
 * Limits: ext4 and vfat only; at most 4 MBR partitions (no extended ones); every
 * partition gets the Linux type; vfat keeps no Unix modes (compare trees with
 * contentsOf); file contents are little-endian PRNG words, so a big-endian host
 * would make other (still deterministic) bytes; corruptImages reads only the
 * fields it needs (ext4: the superblock and group 0; FAT: the boot sector, the first
 * FAT and the root directory's first cluster).
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Prng } from '../fuzz/prng.js'

const KiB = 1024
const MiB = 1024 * 1024

/**
 * The environment the tools run in. Debian puts mke2fs, e2fsck, debugfs, mkfs.vfat,
 * fsck.vfat and sfdisk in /usr/sbin, which it leaves off a non-root user's PATH.
 */
export const toolEnv: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: [...new Set([...(process.env.PATH ?? '').split(':').filter((dir) => dir !== ''), '/usr/local/sbin', '/usr/sbin', '/sbin'])].join(':'),
}

interface ToolResult {
  status: number
  /** stdout and stderr, interleaved as they came. */
  output: string
}

/** Run a tool to its end; resolves with its exit status whatever it is. */
function tool(command: string, args: readonly string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: toolEnv, stdio: 'pipe' })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => { output += text })
    child.stderr.setEncoding('utf8').on('data', (text: string) => { output += text })
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') error.message += ` (scripts/install-toolchain.sh --test-tools installs ${command})`
      reject(error)
    })
    child.on('close', (status, signal) => resolve(status === null ? { status: -1, output: `${output}\n(${command} was killed by ${signal})` } : { status, output }))
    // No input is an empty one: a tool that asks a question reads end-of-file, not a test's terminal.
    child.stdin.end(input)
  })
}

/** Run a tool; its output, or a rejection naming the command when it exits non-zero. */
async function mustRun(command: string, args: readonly string[], input?: string): Promise<string> {
  const { status, output } = await tool(command, args, input)
  if (status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${status}:\n${output}`)
  return output
}

// ---------------------------------------------------------------------------------------------
// Trees and manifests

export interface TreeOptions {
  seed: number
  files: number
  /** The files' sizes add up to exactly this. */
  totalBytes: number
  /** Directories besides the root, nested at random. */
  dirs: number
  /** Bounds of one file's size: 1 KiB and 253 KiB unless given. */
  minBytes?: number
  maxBytes?: number
}

export type ManifestEntry =
  | { type: 'file'; size: number; mode: number; sha256: string }
  | { type: 'dir'; mode: number }
  | { type: 'symlink'; target: string }

/** What a tree holds, by path relative to its root ('/'-separated), in sorted order. */
export type Manifest = Record<string, ManifestEntry>

/**
 * File sizes in [min, max] adding up to total: min·(max/min)^(u^k) for seeded uniform
 * u, with k found by bisection so the sum is total (the sum falls as k grows), then
 * rounded down, the bytes that leaves going one each to the largest fractions. This
 * skews small with a long tail: for DEVICES.md §7's 2 058 files of 40 MiB in
 * 1–253 KiB, k comes out near 2.66 and the median near 2.4 KiB, as there.
 */
function fileSizes(prng: Prng, count: number, total: number, min: number, max: number): number[] {
  if (!(min > 0 && max >= min && total >= count * min && total <= count * max) || (count === 0 && total !== 0)) {
    throw new RangeError(`seededTree: ${count} files of ${min}–${max} bytes cannot add up to ${total}`)
  }
  // u < 1, so u^k < 1 and no size reaches max before rounding: a size rounded up stays within bounds.
  const draws = Array.from({ length: count }, () => prng.next() / 2 ** 32)
  const sizesFor = (k: number): number[] => draws.map((u) => min * (max / min) ** (u ** k))
  const sum = (sizes: readonly number[]): number => sizes.reduce((a, b) => a + b, 0)
  let low = -30 // ln k: k = e^-30 puts every size near max, k = e^30 at min
  let high = 30
  for (let i = 0; i < 100; i++) {
    const middle = (low + high) / 2
    if (sum(sizesFor(Math.exp(middle))) > total) low = middle
    else high = middle
  }
  const exact = sizesFor(Math.exp(high))
  const sizes = exact.map(Math.floor)
  const byFraction = exact.map((x, i) => ({ i, fraction: x - Math.floor(x) })).sort((a, b) => b.fraction - a.fraction || a.i - b.i)
  for (const { i } of byFraction.slice(0, total - sum(sizes))) sizes[i] = (sizes[i] ?? 0) + 1
  return sizes
}

/** Seeded bytes: stream `stream` of the seed's generator, as little-endian 32-bit words. */
function seededBytes(seed: number, stream: number, size: number): Buffer {
  const prng = new Prng(seed, stream)
  const words = new Uint32Array(Math.ceil(size / 4))
  for (let i = 0; i < words.length; i++) words[i] = prng.next()
  return Buffer.from(words.buffer, 0, size)
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Write a deterministic tree into dir (created if missing; it must be empty) and
 * return its manifest. Directories are d000, d001 … each under the root or an
 * earlier directory; files f0000.bin … are spread over the root and the
 * directories; one file in eight is executable (0755, else 0644); directories are
 * 0755. The same options always give the same tree.
 */
export function seededTree(dir: string, options: TreeOptions): Manifest {
  const { seed, files, totalBytes, dirs } = options
  mkdirSync(dir, { recursive: true })
  if (readdirSync(dir).length > 0) throw new Error(`seededTree: ${dir} is not empty`)
  // Stream 0 shapes the tree; stream i + 1 fills file i, so one file's bytes never depend on the others'.
  const prng = new Prng(seed, 0)
  const sizes = fileSizes(prng, files, totalBytes, options.minBytes ?? KiB, options.maxBytes ?? 253 * KiB)
  const manifest: Manifest = {}
  const dirPaths: string[] = []
  const dirWidth = String(Math.max(dirs - 1, 0)).length
  for (let i = 0; i < dirs; i++) {
    const parent = prng.below(dirPaths.length + 1)
    const name = `d${String(i).padStart(dirWidth, '0')}`
    const relative = parent === 0 ? name : `${dirPaths[parent - 1] ?? ''}/${name}`
    dirPaths.push(relative)
    mkdirSync(path.join(dir, relative))
    // chmod, not mkdir's mode: the process's umask must not change the tree.
    chmodSync(path.join(dir, relative), 0o755)
    manifest[relative] = { type: 'dir', mode: 0o755 }
  }
  const fileWidth = String(Math.max(files - 1, 0)).length
  for (let i = 0; i < files; i++) {
    const where = prng.below(dirPaths.length + 1)
    const name = `f${String(i).padStart(fileWidth, '0')}.bin`
    const relative = where === 0 ? name : `${dirPaths[where - 1] ?? ''}/${name}`
    const mode = prng.chance(1 / 8) ? 0o755 : 0o644
    const bytes = seededBytes(seed, i + 1, sizes[i] ?? 0)
    writeFileSync(path.join(dir, relative), bytes)
    chmodSync(path.join(dir, relative), mode)
    manifest[relative] = { type: 'file', size: bytes.length, mode, sha256: sha256(bytes) }
  }
  return sorted(manifest)
}

function sorted(manifest: Manifest): Manifest {
  return Object.fromEntries(Object.entries(manifest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * The manifest of the tree under dir (dir itself not included). ignore: paths
 * relative to dir left out with everything under them (e.g. ext4's 'lost+found').
 * Anything but files, directories and symlinks is an error: no fixture makes them.
 */
export function manifestOf(dir: string, options: { ignore?: readonly string[] } = {}): Manifest {
  const ignore = new Set(options.ignore ?? [])
  const manifest: Manifest = {}
  const walk = (relative: string): void => {
    for (const name of readdirSync(path.join(dir, relative))) {
      const child = relative === '' ? name : `${relative}/${name}`
      if (ignore.has(child)) continue
      const full = path.join(dir, child)
      const stats = lstatSync(full)
      if (stats.isDirectory()) {
        manifest[child] = { type: 'dir', mode: stats.mode & 0o7777 }
        walk(child)
      } else if (stats.isFile()) {
        manifest[child] = { type: 'file', size: stats.size, mode: stats.mode & 0o7777, sha256: sha256(readFileSync(full)) }
      } else if (stats.isSymbolicLink()) {
        manifest[child] = { type: 'symlink', target: readlinkSync(full) }
      } else {
        throw new Error(`manifestOf: ${full} is neither a file, a directory nor a symlink`)
      }
    }
  }
  walk('')
  return sorted(manifest)
}

/** A manifest without modes (path → 'dir', 'symlink → target' or 'file SIZE SHA256'), to compare with vfat. */
export function contentsOf(manifest: Manifest): Record<string, string> {
  return Object.fromEntries(Object.entries(manifest).map(([where, entry]) => [where,
    entry.type === 'file' ? `file ${entry.size} ${entry.sha256}` : entry.type === 'dir' ? 'dir' : `symlink → ${entry.target}`]))
}

// ---------------------------------------------------------------------------------------------
// Making images

export type Fstype = 'ext4' | 'vfat'

/** A fresh file of exactly bytes (sparse). */
async function blankFile(imagePath: string, bytes: number): Promise<void> {
  const handle = await open(imagePath, 'w')
  try {
    await handle.truncate(bytes)
  } finally {
    await handle.close()
  }
}

/** A fresh ext4 image of sizeMiB, holding a copy of the tree under from if given (mke2fs -d). */
export async function makeExt4(imagePath: string, options: { sizeMiB: number; from?: string | undefined }): Promise<void> {
  // mke2fs writes into an existing file without shrinking it: start from none, so the image is exactly sizeMiB.
  await rm(imagePath, { force: true })
  const from = options.from === undefined ? [] : ['-d', options.from]
  await mustRun('mke2fs', ['-q', '-F', '-t', 'ext4', ...from, imagePath, `${options.sizeMiB}M`])
}

/**
 * A fresh FAT image of sizeMiB (mkfs.vfat picks FAT12/16/32 by size unless fatBits
 * says), holding a copy of the tree under from if given (mcopy -s).
 */
export async function makeVfat(imagePath: string, options: { sizeMiB: number; from?: string | undefined; fatBits?: 12 | 16 | 32 | undefined }): Promise<void> {
  await rm(imagePath, { force: true })
  await blankFile(imagePath, options.sizeMiB * MiB)
  await mustRun('mkfs.vfat', [...(options.fatBits === undefined ? [] : ['-F', String(options.fatBits)]), imagePath])
  if (options.from === undefined) return
  const entries = (await readdir(options.from)).sort()
  // mcopy -s copies each named directory with its contents; an empty tree has nothing to name.
  if (entries.length > 0) await mustRun('mcopy', ['-i', imagePath, '-s', '-Q', ...entries.map((name) => path.join(options.from ?? '', name)), '::/'])
}

export interface PartitionSpec {
  sizeMiB: number
  /**
   * Build the partition's contents into partImagePath (a path in a temporary
   * directory, e.g. with makeExt4(partImagePath, { sizeMiB })); it may be shorter
   * than the partition, not longer. Without fill the partition stays zeroes.
   */
  fill?: ((partImagePath: string, sizeMiB: number) => void | Promise<void>) | undefined
}

/** A partition's place on its disk, in bytes; numbers count from 1, as the kernel's do. */
export interface Partition {
  number: number
  start: number
  size: number
}

/**
 * A fresh disk image with an MBR ('dos' to sfdisk) or GPT table of the given
 * partitions, in order, each starting on a 1 MiB boundary (the first at 1 MiB),
 * each filled by its fill. The image is 1 MiB + the partitions (+ 1 MiB for GPT's
 * backup table at the end). Returns where each partition is, as sfdisk reads it.
 */
export async function partitioned(imagePath: string, options: { table: 'mbr' | 'gpt'; partitions: readonly PartitionSpec[] }): Promise<Partition[]> {
  const { table, partitions } = options
  if (table === 'mbr' && partitions.length > 4) throw new RangeError('partitioned: an MBR holds 4 primary partitions; extended ones are not made')
  const bytes = (1 + partitions.reduce((sum, p) => sum + p.sizeMiB, 0) + (table === 'gpt' ? 1 : 0)) * MiB
  await rm(imagePath, { force: true })
  await blankFile(imagePath, bytes)
  const script = [`label: ${table === 'mbr' ? 'dos' : 'gpt'}`, ...partitions.map((p) => `size=${p.sizeMiB}MiB, type=L`)].join('\n')
  await mustRun('sfdisk', ['-q', imagePath], `${script}\n`)
  const layout = (await partitionTable(imagePath)).partitions
  if (layout.length !== partitions.length) throw new Error(`partitioned: sfdisk made ${layout.length} partitions, not ${partitions.length}`)
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'uklkl-partition-'))
  try {
    for (const [i, spec] of partitions.entries()) {
      const place = layout[i]
      if (spec.fill === undefined || place === undefined) continue
      const partImage = path.join(scratch, `part${place.number}.img`)
      await spec.fill(partImage, spec.sizeMiB)
      const { size } = await stat(partImage)
      if (size > place.size) throw new RangeError(`partitioned: partition ${place.number}'s contents are ${size} bytes, more than its ${place.size}`)
      await copyRange(partImage, 0, imagePath, place.start, size)
      await rm(partImage)
    }
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
  return layout
}

export interface PartitionTable {
  /** sfdisk's name of the table: 'dos' (MBR) or 'gpt'. */
  label: string
  /** With each partition's type as sfdisk prints it ('83' on MBR, a GUID on GPT). */
  partitions: (Partition & { type: string })[]
}

interface SfdiskJson {
  partitiontable: {
    label: string
    sectorsize?: number
    partitions?: { node: string; start: number; size: number; type: string }[]
  }
}

/** The partition table of a disk image, as `sfdisk --json` reads it (bytes, not sectors). */
export async function partitionTable(imagePath: string): Promise<PartitionTable> {
  const { partitiontable: table } = JSON.parse(await mustRun('sfdisk', ['--json', imagePath])) as SfdiskJson
  const sector = table.sectorsize ?? 512
  return {
    label: table.label,
    partitions: (table.partitions ?? []).map((p) => {
      // sfdisk names partition N of disk.img "disk.imgN".
      const number = Number(/(\d+)$/.exec(p.node)?.[1])
      return { number, start: p.start * sector, size: p.size * sector, type: p.type }
    }),
  }
}

/** Copy partition number of a disk image into a file of its own (for the tools that read whole images). */
export async function extractPartition(imagePath: string, number: number, outPath: string): Promise<void> {
  const place = (await partitionTable(imagePath)).partitions.find((p) => p.number === number)
  if (place === undefined) throw new RangeError(`extractPartition: ${imagePath} has no partition ${number}`)
  await rm(outPath, { force: true })
  await blankFile(outPath, place.size)
  await copyRange(imagePath, place.start, outPath, 0, place.size)
}

/** Copy length bytes from one file's offset to another's, in 1 MiB pieces. */
async function copyRange(from: string, fromOffset: number, to: string, toOffset: number, length: number): Promise<void> {
  const source = await open(from, 'r')
  try {
    const target = await open(to, 'r+')
    try {
      const piece = Buffer.alloc(Math.min(MiB, length))
      for (let done = 0; done < length;) {
        const { bytesRead } = await source.read(piece, 0, Math.min(piece.length, length - done), fromOffset + done)
        if (bytesRead === 0) throw new Error(`copyRange: ${from} ends at ${fromOffset + done}, before ${fromOffset + length}`)
        await target.write(piece, 0, bytesRead, toOffset + done)
        done += bytesRead
      }
    } finally {
      await target.close()
    }
  } finally {
    await source.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Reading and checking images

/**
 * Copy everything in a whole-filesystem image into outDir (created if missing):
 * `debugfs -R 'rdump / outDir'` for ext4 (modes kept; lost+found included),
 * `mcopy -s -n` for vfat.
 */
export async function readBack(imagePath: string, fstype: Fstype, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true })
  if (fstype === 'vfat') {
    // '::' is the root: unlike '::/*' it also works on an empty filesystem.
    await mustRun('mcopy', ['-i', imagePath, '-s', '-n', '-m', '::', `${outDir}/`])
    return
  }
  // debugfs parses -R's argument itself: double quotes keep a path with spaces whole.
  if (outDir.includes('"')) throw new Error(`readBack: debugfs cannot be given a path with a double quote: ${outDir}`)
  const output = await mustRun('debugfs', ['-R', `rdump / "${outDir}"`, imagePath])
  // debugfs exits 0 even when it could not open the image or copy a file: anything but its banner is an error.
  const complaints = output.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('debugfs '))
  if (complaints.length > 0) throw new Error(`debugfs rdump of ${imagePath} failed:\n${complaints.join('\n')}`)
}

/**
 * Whether a filesystem image's own checker, read-only, calls it clean: e2fsck -fn,
 * fsck.vfat -n, each exiting 0 and, for e2fsck, asking nothing.
 */
export async function fsck(imagePath: string, fstype: Fstype): Promise<{ clean: boolean; output: string }> {
  if (fstype === 'vfat') {
    const { status, output } = await tool('fsck.vfat', ['-n', imagePath])
    return { clean: status === 0, output }
  }
  const { status, output } = await tool('e2fsck', ['-fn', imagePath])
  // e2fsck -n answers "no" to every question, and asks only about a problem it found; some
  // (an image shorter than its superblock says: "Abort? no") leave its exit status at 0.
  return { clean: status === 0 && !/\? no$/m.test(output), output }
}

// ---------------------------------------------------------------------------------------------
// Damaged images

export interface CorruptImage {
  /** What was done, e.g. 'truncated-half', 'flips-inode-table'. */
  name: string
  bytes: Buffer
}

/** Metadata of an image: named byte ranges [start, end). */
interface Region {
  name: string
  ranges: [number, number][]
}

/** Byte flips in each region's variant, and in the one over all metadata. */
const FLIPS_PER_REGION = 4
const FLIPS_OVER_METADATA = 32

/**
 * Damaged variants of an ext4 or vfat image (its type is read from its bytes):
 * truncated to half; the superblock (ext4) or boot sector (vfat) zeroed; all
 * zeroes; and byte flips (a seeded non-zero XOR at distinct seeded offsets) in each
 * metadata region (ext4: superblock, group descriptors, group 0's bitmaps and its
 * inode table's used part, the root directory's first block; vfat: the boot
 * sector's geometry fields, the first FAT's used part, the root directory's used
 * entries), then over all of them at once. Each variant draws from its own stream
 * of the seed, so the same (image, seed) always gives the same variants. Every ext4
 * region is checksummed (metadata_csum, mke2fs's default), so e2fsck notices each flip.
 */
export function corruptImages(base: Buffer, seed: number): CorruptImage[] {
  const ext4 = isExt4(base)
  if (!ext4 && !isFat(base)) throw new TypeError('corruptImages: the image is neither ext4 nor FAT')
  const regions = (ext4 ? ext4Regions(base) : fatRegions(base)).filter((r) => r.ranges.some(([start, end]) => end > start))
  const zeroed = Buffer.from(base)
  if (ext4) zeroed.fill(0, 1024, 2048)
  else zeroed.fill(0, 0, 512)
  const variants: ((prng: Prng) => CorruptImage)[] = [
    () => ({ name: 'truncated-half', bytes: Buffer.from(base.subarray(0, Math.floor(base.length / 2))) }),
    () => ({ name: ext4 ? 'zeroed-superblock' : 'zeroed-boot-sector', bytes: zeroed }),
    () => ({ name: 'all-zero', bytes: Buffer.alloc(base.length) }),
    ...regions.map((region) => (prng: Prng) => ({ name: `flips-${region.name}`, bytes: flipped(base, region.ranges, FLIPS_PER_REGION, prng) })),
    (prng) => ({ name: 'flips-metadata', bytes: flipped(base, regions.flatMap((r) => r.ranges), FLIPS_OVER_METADATA, prng) }),
  ]
  return variants.map((variant, i) => variant(new Prng(seed, i)))
}

/** A copy of base with count bytes, at distinct offsets drawn uniformly over ranges, XORed with a non-zero byte. */
function flipped(base: Buffer, ranges: readonly [number, number][], count: number, prng: Prng): Buffer {
  const total = ranges.reduce((sum, [start, end]) => sum + (end - start), 0)
  const offsets = new Set<number>()
  while (offsets.size < Math.min(count, total)) {
    let ticket = prng.below(total)
    for (const [start, end] of ranges) {
      if (ticket < end - start) {
        offsets.add(start + ticket)
        break
      }
      ticket -= end - start
    }
  }
  const bytes = Buffer.from(base)
  for (const offset of offsets) bytes[offset] = (bytes[offset] ?? 0) ^ prng.between(1, 255)
  return bytes
}

const EXT4_SUPERBLOCK = 1024

function isExt4(b: Buffer): boolean {
  return b.length >= 2048 && b.readUInt16LE(EXT4_SUPERBLOCK + 0x38) === 0xef53
}

/** ext4's metadata regions (layout: the kernel's Documentation/filesystems/ext4/). */
function ext4Regions(b: Buffer): Region[] {
  const sb = (offset: number): number => b.readUInt32LE(EXT4_SUPERBLOCK + offset)
  const blockSize = 1024 << sb(0x18)
  const firstDataBlock = sb(0x14)
  const blocksPerGroup = sb(0x20)
  const inodesPerGroup = sb(0x28)
  const inodeSize = b.readUInt16LE(EXT4_SUPERBLOCK + 0x58)
  const is64bit = (sb(0x60) & 0x80) !== 0
  const descSize = is64bit ? b.readUInt16LE(EXT4_SUPERBLOCK + 0xfe) : 32
  const blocksCount = sb(0x04) + (is64bit ? sb(0x150) * 2 ** 32 : 0)
  const groups = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup)
  // The group descriptors start in the block after the superblock's.
  const gdt = (firstDataBlock + 1) * blockSize
  const desc = (lo: number, hi: number): number => b.readUInt32LE(gdt + lo) + (is64bit ? b.readUInt32LE(gdt + hi) * 2 ** 32 : 0)
  const blockBitmap = desc(0x00, 0x20) * blockSize
  const inodeBitmap = desc(0x04, 0x24) * blockSize
  const inodeTable = desc(0x08, 0x28) * blockSize
  const itableUnused = b.readUInt16LE(gdt + 0x1c) + (is64bit ? b.readUInt16LE(gdt + 0x32) * 0x10000 : 0)
  // The root directory is inode 2; its i_block (at 0x28) is an extent tree, or a block map without extents.
  const rootInode = inodeTable + inodeSize
  const iBlock = rootInode + 0x28
  let rootBlock: number
  if (b.readUInt16LE(iBlock) === 0xf30a) {
    if (b.readUInt16LE(iBlock + 2) === 0 || b.readUInt16LE(iBlock + 6) !== 0) throw new Error('corruptImages: the root directory has no extent in its inode')
    rootBlock = b.readUInt16LE(iBlock + 12 + 6) * 2 ** 32 + b.readUInt32LE(iBlock + 12 + 8)
  } else {
    rootBlock = b.readUInt32LE(iBlock)
  }
  const regions: Region[] = [
    { name: 'superblock', ranges: [[EXT4_SUPERBLOCK, EXT4_SUPERBLOCK + 1024]] },
    // Only descriptors of groups that exist: the rest of the block is unused and unchecked.
    { name: 'group-descriptors', ranges: [[gdt, gdt + groups * descSize]] },
    // Bitmaps: only the bits of the group (the checksums cover these).
    { name: 'block-bitmap', ranges: [[blockBitmap, blockBitmap + blocksPerGroup / 8]] },
    { name: 'inode-bitmap', ranges: [[inodeBitmap, inodeBitmap + inodesPerGroup / 8]] },
    // Inodes past the used part are never read (uninit_bg), so flips there would go unnoticed.
    { name: 'inode-table', ranges: [[inodeTable, inodeTable + (inodesPerGroup - itableUnused) * inodeSize]] },
    { name: 'root-directory', ranges: [[rootBlock * blockSize, (rootBlock + 1) * blockSize]] },
  ]
  checkInside(b, regions)
  return regions
}

function isFat(b: Buffer): boolean {
  if (b.length < 512 || b[510] !== 0x55 || b[511] !== 0xaa) return false
  const bytesPerSector = b.readUInt16LE(11)
  const sectorsPerCluster = b[13] ?? 0
  return [512, 1024, 2048, 4096].includes(bytesPerSector) && sectorsPerCluster > 0
    && (sectorsPerCluster & (sectorsPerCluster - 1)) === 0 && (b[16] ?? 0) > 0
}

/** FAT's metadata regions (layout: Microsoft's FAT specification, the BPB at offset 11). */
function fatRegions(b: Buffer): Region[] {
  const bytesPerSector = b.readUInt16LE(11)
  const sectorsPerCluster = b[13] ?? 0
  const reservedSectors = b.readUInt16LE(14)
  const fats = b[16] ?? 0
  const rootEntries = b.readUInt16LE(17)
  const fat32 = b.readUInt16LE(22) === 0
  const fatBytes = (fat32 ? b.readUInt32LE(36) : b.readUInt16LE(22)) * bytesPerSector
  const fatStart = reservedSectors * bytesPerSector
  // The FAT's used part ends at its last non-zero byte: flips past it would only mark free clusters.
  let fatEnd = fatStart + fatBytes
  while (fatEnd > fatStart && b[fatEnd - 1] === 0) fatEnd--
  const afterFats = fatStart + fats * fatBytes
  const rootStart = fat32 ? afterFats + (b.readUInt32LE(44) - 2) * sectorsPerCluster * bytesPerSector : afterFats
  const rootBytes = fat32 ? sectorsPerCluster * bytesPerSector : rootEntries * 32
  // A directory's entries end at the first one whose name starts with 0.
  let rootEnd = rootStart
  while (rootEnd < rootStart + rootBytes && b[rootEnd] !== 0) rootEnd += 32
  const regions: Region[] = [
    // The fields a reader needs to find anything: sector and cluster sizes, reserved
    // sectors, FAT count, root entries, sector counts, media, FAT size, (FAT32) root
    // cluster; and the 0x55AA signature. Labels, serial and boot code are left alone.
    { name: 'boot-sector', ranges: [[11, 24], [32, 36], ...(fat32 ? [[36, 48] as [number, number]] : []), [510, 512]] },
    { name: 'fat', ranges: [[fatStart, fatEnd]] },
    { name: 'root-directory', ranges: [[rootStart, rootEnd]] },
  ]
  checkInside(b, regions)
  return regions
}

function checkInside(b: Buffer, regions: readonly Region[]): void {
  for (const { name, ranges } of regions) {
    for (const [start, end] of ranges) {
      if (!(start >= 0 && end >= start && end <= b.length)) {
        throw new RangeError(`corruptImages: the ${name} (${start}..${end}) lies outside the ${b.length}-byte image`)
      }
    }
  }
}
