// SPDX-License-Identifier: MIT
/**
 * disk.ts - the disk bench (issue 9), three sides in one run on one seeded tree
 * (2 058 files, 40 MiB, 1–253 KiB, 100 directories: DEVICES.md §7's shape):
 *   native  e2fsprogs: `mke2fs -q -t ext4 -d tree img 128M`, `debugfs -R 'rdump / out'`;
 *           random reads through the host's fs (fs.readSync) on a plain file;
 *           `mount -o loop,ro` by the host's kernel (as root)
 *   ext2fs  the npm package (libext2fs in wasm): mkdir + writeFile + umount into a
 *           fresh image, per-file open/fstat/read/close, random reads, mount
 *   uklkl   `uklkl cp` into a fresh image and back out (the CLI's function, in
 *           this process, kernel boot included), every file read through k.fs
 *           (ext2fs's read task), random reads through k.fs, mount time
 *           (openImage): uklklFigures, given to diskBench by bench/index.ts;
 *           without a producer its column says "pending"
 * Goals: uklkl ≤ 5× native, ≥ 3× faster than ext2fs. Reading is two tasks, each
 * side doing the one it can: a copy out into a host directory (native's rdump,
 * `uklkl cp`: both write every file to the host) and each file read into the
 * process (ext2fs, k.fs: nothing written to the host).
 *
 * Every figure is the median (with min and max) of RUNS runs after one warm-up.
 * Before timing, each side's result is checked once against the tree's manifest
 * (an image it wrote is read back by debugfs and checked by e2fsck -fn), so a
 * fast wrong answer cannot pass for a figure. Images and read-backs live in
 * /dev/shm when there is one, as in DEVICES.md §7: figures of the code, not the disk.
 *
 * Limits: native figures include spawning the tool; native's mount is the host
 * kernel's through a loop device, which needs root (else it is left out); its
 * random reads are the host's on the same bytes in a plain file; every ext2fs read
 * also writes an inode back (atime), so it works on a copy of the image; the sides
 * read the host tree inside their timing (as mke2fs -d does), from the page cache.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  accessSync, closeSync, constants as fsConstants, copyFileSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync,
  rmSync, writeFileSync, writeSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { type ToolIO, imageTool } from '../src/cli/image-tools.js'
import { fileDisk as uklklFileDisk } from '../src/devices/block/backends.js'
import { openImage } from '../src/image.js'
import { startKernel } from '../src/kernel.js'
import { Prng } from '../test/fuzz/prng.js'
import { type Manifest, type TreeOptions, contentsOf, fsck, manifestOf, readBack, seededTree, toolEnv } from '../test/support/images.js'
import { printTable, type Row, writeResults } from './report.js'

const RUNS = 7
const REPO = fileURLToPath(new URL('..', import.meta.url))
const KiB = 1024
const MiB = 1024 * KiB
/** DEVICES.md §7's tree. */
export const BENCH_TREE: TreeOptions = { seed: 1, files: 2058, totalBytes: 40 * MiB, dirs: 100 }
const IMAGE_SIZE = '128M'
const RANDOM_FILE_BYTES = 32 * MiB
const READ_BYTES = 4 * KiB
const READS = 10_000
/** Where the random-read file sits in its image. */
const RANDOM_PATH = '/random.bin'

/** A figure over RUNS runs. */
export interface Timing {
  median: number
  min: number
  max: number
}

/** One side's figures; a task a side cannot do is left out. */
export interface DiskFigures {
  /** Copy the host tree into a fresh 128 MiB ext4 image, whole (ms). */
  writeTree?: Timing
  /** Copy the tree out of its image into a host directory, whole (ms). */
  readTree?: Timing
  /**
   * Read every file of the tree from its image into the process, as a program
   * reads them (open, fstat, read, close), opening and closing the image
   * included; nothing is written to the host (ms).
   */
  readFiles?: Timing
  /** One random 4 KiB read from a 32 MiB file in an image: the mean over READS reads (µs). */
  randomRead?: Timing
  /** Mount (or open) the tree's image, ready to read (ms). */
  mount?: Timing
}

/** What every side works on, made once per bench run. */
export interface DiskBenchSetup {
  /** The seeded tree on the host, and its manifest. */
  tree: string
  manifest: Manifest
  /** A 128 MiB ext4 image holding the tree (made by mke2fs -d): the source for read-back and mount. */
  treeImage: string
  /** 32 MiB of seeded bytes on the host, and a 64 MiB ext4 image holding the same bytes at RANDOM_PATH. */
  randomFile: string
  randomImage: string
  randomPath: string
  /** READS offsets (multiples of 4 KiB) that every side's random reads go to, in this order. */
  offsets: readonly number[]
  readBytes: number
  /** A scratch directory for this side, emptied after it. */
  work: string
  runs: number
  /** Throws unless the image (ext4) holds exactly the tree and e2fsck -fn calls it clean. */
  verifyImage(imagePath: string): Promise<void>
  /** Throws unless dir holds exactly the tree (lost+found aside). */
  verifyTree(dir: string): void
  /** Throws unless bytes are those of the tree's file at relative (a manifest key). */
  verifyFile(relative: string, bytes: Uint8Array): void
}

/** The uklkl column's producer (uklklFigures). */
export type UklklFigures = (setup: DiskBenchSetup) => Promise<DiskFigures>

/** once() RUNS times after a warm-up; once returns its own figure (see wall()). */
export async function repeat(runs: number, once: () => Promise<number> | number): Promise<Timing> {
  await once()
  const values: number[] = []
  for (let i = 0; i < runs; i++) values.push(await once())
  values.sort((a, b) => a - b)
  const mid = values.length >> 1
  const median = values.length % 2 === 1 ? (values[mid] ?? NaN) : ((values[mid - 1] ?? NaN) + (values[mid] ?? NaN)) / 2
  return { median, min: values[0] ?? NaN, max: values[values.length - 1] ?? NaN }
}

/** The milliseconds fn takes. */
export async function wall(fn: () => unknown): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

function run(command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { env: toolEnv, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr}`)
  return r.stdout + r.stderr
}

/** /dev/shm if this machine has a writable one (DEVICES.md §7 measured there), else the temp directory. */
function scratchRoot(): string {
  try {
    accessSync('/dev/shm', fsConstants.W_OK)
    return '/dev/shm'
  } catch {
    return os.tmpdir()
  }
}

// ---------------------------------------------------------------------------------------------
// Native: e2fsprogs and the host's fs

async function nativeFigures(s: DiskBenchSetup): Promise<DiskFigures> {
  const image = path.join(s.work, 'native.img')
  // DEVICES.md §7's command line; each run starts without the image (mke2fs creates it).
  const mke2fs = (): string => run('mke2fs', ['-q', '-t', 'ext4', '-d', s.tree, image, IMAGE_SIZE])
  mke2fs()
  await s.verifyImage(image)
  const writeTree = await repeat(s.runs, () => {
    rmSync(image)
    return wall(mke2fs)
  })

  const out = path.join(s.work, 'rdump')
  await readBack(s.treeImage, 'ext4', out)
  s.verifyTree(out)
  const readTree = await repeat(s.runs, () => {
    rmSync(out, { recursive: true })
    mkdirSync(out)
    return wall(() => run('debugfs', ['-R', `rdump / "${out}"`, s.treeImage]))
  })

  const fd = openSync(s.randomFile, 'r')
  let randomRead: Timing
  try {
    const buffer = Buffer.alloc(s.readBytes)
    randomRead = await repeat(s.runs, async () => 1000 * await wall(() => {
      for (const offset of s.offsets) readSync(fd, buffer, 0, s.readBytes, offset)
    }) / s.offsets.length)
  } finally {
    closeSync(fd)
  }
  return { writeTree, readTree, randomRead, ...await nativeMount(s) }
}

/**
 * The host kernel mounting the tree's image read-only through a loop device, as
 * `mount -o loop,ro` (the tool spawned, as the other native figures are; the
 * unmount is not timed). Only root may: for anyone else, and where the host has
 * no loop devices, the row says "-" and why.
 */
async function nativeMount(s: DiskBenchSetup): Promise<{ mount?: Timing }> {
  const target = path.join(s.work, 'mnt')
  mkdirSync(target)
  try {
    return {
      mount: await repeat(s.runs, async () => {
        const ms = await wall(() => run('mount', ['-o', 'loop,ro', s.treeImage, target]))
        try {
          // Mounted for real: the tree's image holds lost+found.
          accessSync(path.join(target, 'lost+found'))
        } finally {
          run('umount', [target])
        }
        return ms
      }),
    }
  } catch (error) {
    console.log(`native: no mount figure: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`)
    return {}
  }
}

// ---------------------------------------------------------------------------------------------
// The ext2fs npm package

/** The disk object ext2fs reads and writes through (the interface its lib/disk.js wraps). */
interface Ext2fsDisk {
  read(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<void>
  write(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<void>
  discard(offset: number, length: number): Promise<void>
  flush(): Promise<void>
}

/** The part of ext2fs's fs.promises this bench uses (the package ships no types). */
interface Ext2fsPromises {
  mkdir(path: string, mode: number): Promise<void>
  writeFile(path: string, data: Buffer, options: { mode: number }): Promise<void>
  open(path: string, flags: string): Promise<{ fd: number }>
  fstat(fd: number): Promise<{ size: number }>
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
  close(fd: number): Promise<void>
}

interface Ext2fsMounted {
  promises: Ext2fsPromises
}

interface Ext2fs {
  mount(disk: Ext2fsDisk, offset: number): Promise<Ext2fsMounted>
  umount(fs: Ext2fsMounted): Promise<void>
}

/** Loaded on first use: its wasm module compiles when it loads, which the other bench suites need not pay for. */
let ext2fsModule: Ext2fs | undefined
function ext2fs(): Ext2fs {
  ext2fsModule ??= createRequire(import.meta.url)('ext2fs') as Ext2fs
  return ext2fsModule
}

/** An image file as an ext2fs disk: positional reads and writes (DEVICES.md §7's small adapter). */
function fileDisk(fd: number): Ext2fsDisk {
  return {
    read: async (buffer, bufferOffset, length, fileOffset) => {
      // Past the end of the file an image reads as zeroes, as a block device would.
      const n = readSync(fd, buffer, bufferOffset, length, fileOffset)
      buffer.fill(0, bufferOffset + n, bufferOffset + length)
    },
    write: async (buffer, bufferOffset, length, fileOffset) => {
      writeSync(fd, buffer, bufferOffset, length, fileOffset)
    },
    discard: async () => {},
    flush: async () => {
      fdatasyncSync(fd)
    },
  }
}

/** Mount imagePath with ext2fs, run fn, unmount (always), close. */
async function withExt2fs<T>(imagePath: string, fn: (fs: Ext2fsPromises) => Promise<T>): Promise<T> {
  const fd = openSync(imagePath, 'r+')
  try {
    const mounted = await ext2fs().mount(fileDisk(fd), 0)
    try {
      return await fn(mounted.promises)
    } finally {
      await ext2fs().umount(mounted)
    }
  } finally {
    closeSync(fd)
  }
}

/** A whole file through ext2fs by fd: its readFile returns a string even for binary data. */
async function ext2fsRead(fs: Ext2fsPromises, file: string): Promise<Buffer> {
  // Close by fd: awaiting FileHandle.close() and then unmounting trapped (DEVICES.md §7).
  const { fd } = await fs.open(file, 'r')
  try {
    const { size } = await fs.fstat(fd)
    const bytes = Buffer.alloc(size)
    const { bytesRead } = await fs.read(fd, bytes, 0, size, 0)
    return bytes.subarray(0, bytesRead)
  } finally {
    await fs.close(fd)
  }
}

async function ext2fsFigures(s: DiskBenchSetup): Promise<DiskFigures> {
  const entries = Object.entries(s.manifest)
  // ext2fs cannot make a filesystem: each run starts from an empty image made by mke2fs (untimed).
  const blank = path.join(s.work, 'blank.img')
  run('mke2fs', ['-q', '-t', 'ext4', blank, IMAGE_SIZE])
  const image = path.join(s.work, 'ext2fs.img')
  const writeTree = async (): Promise<void> => {
    await withExt2fs(image, async (fs) => {
      // Sorted paths put every directory before what it holds.
      for (const [relative, entry] of entries) {
        if (entry.type === 'dir') await fs.mkdir(`/${relative}`, entry.mode)
        else if (entry.type === 'file') await fs.writeFile(`/${relative}`, readFileSync(path.join(s.tree, relative)), { mode: entry.mode })
      }
    })
  }
  copyFileSync(blank, image)
  await writeTree()
  await s.verifyImage(image)
  const write = await repeat(s.runs, async () => {
    copyFileSync(blank, image)
    return wall(writeTree)
  })

  const files = entries.flatMap(([relative, entry]) => (entry.type === 'file' ? [relative] : []))
  const readTree = (check: boolean): Promise<void> => withExt2fs(image, async (fs) => {
    for (const relative of files) {
      const bytes = await ext2fsRead(fs, `/${relative}`)
      if (check) s.verifyFile(relative, bytes)
    }
  })
  copyFileSync(s.treeImage, image)
  await readTree(true)
  const read = await repeat(s.runs, () => wall(() => readTree(false)))

  const mount = await repeat(s.runs, async () => {
    const fd = openSync(image, 'r+')
    try {
      const start = performance.now()
      const mounted = await ext2fs().mount(fileDisk(fd), 0)
      const ms = performance.now() - start
      await ext2fs().umount(mounted)
      return ms
    } finally {
      closeSync(fd)
    }
  })

  const randomImage = path.join(s.work, 'ext2fs-random.img')
  copyFileSync(s.randomImage, randomImage)
  const randomRead = await withExt2fs(randomImage, async (fs) => {
    const { fd } = await fs.open(s.randomPath, 'r')
    try {
      const buffer = Buffer.alloc(s.readBytes)
      const expected = readFileSync(s.randomFile)
      const check = s.offsets.slice(0, 100)
      for (const offset of check) {
        await fs.read(fd, buffer, 0, s.readBytes, offset)
        if (!buffer.equals(expected.subarray(offset, offset + s.readBytes))) throw new Error(`ext2fs read other bytes at ${offset} of ${s.randomPath}`)
      }
      return await repeat(s.runs, async () => 1000 * await wall(async () => {
        for (const offset of s.offsets) await fs.read(fd, buffer, 0, s.readBytes, offset)
      }) / s.offsets.length)
    } finally {
      await fs.close(fd)
    }
  })
  return { writeTree: write, readFiles: read, randomRead, mount }
}

// ---------------------------------------------------------------------------------------------
// uklkl: `uklkl cp` (the CLI's own function, in this process), k.fs, openImage

/** stdout and stderr for an in-process `uklkl` run: stdout dropped, stderr kept for the error a failed run throws. */
function quietIO(): { io: ToolIO, errors: () => string } {
  let errors = ''
  const sink = (keep: boolean): Writable => new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (keep) errors += chunk.toString()
      done()
    },
  })
  return { io: { stdout: sink(false), stderr: sink(true) }, errors: () => errors }
}

/** `uklkl ARGS...` as the CLI runs it (imageTool, a kernel booted for it), in this process; throws unless it exits 0. */
async function uklklRun(args: readonly string[]): Promise<void> {
  const [name, ...rest] = args
  if (name !== 'cp') throw new Error(`the bench runs uklkl cp, not ${name}`)
  const { io, errors } = quietIO()
  const status = await imageTool(name, rest, io)
  if (status !== 0) throw new Error(`uklkl ${args.join(' ')} exited with ${status}:\n${errors()}`)
}

const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ')

/**
 * The uklkl column. writeTree and readTree time `uklkl cp` whole (boot, mount,
 * copy, unmount and halt: what a user waits for, as mke2fs and debugfs are timed
 * with their process start), through imageTool in this process; the same copy as
 * a process of its own (node, tsx's transform, boot) is timed once and printed.
 * randomRead reads through k.fs (FileHandle.read at positions) on the image
 * openImage mounted. mount is openImage (boot + mount); mount alone (k.mount on
 * a booted kernel) is printed beside it. The load average is printed before and
 * after: the figures of a shared machine say as much about its load as about uklkl.
 */
export async function uklklFigures(s: DiskBenchSetup): Promise<DiskFigures> {
  console.log(`uklkl: load average ${loadAverage()} (${os.cpus().length} CPUs)`)
  const blank = path.join(s.work, 'blank.img')
  run('mke2fs', ['-q', '-t', 'ext4', blank, IMAGE_SIZE])
  const image = path.join(s.work, 'uklkl.img')
  // tree/. : the tree's contents into the image's root, as mke2fs -d puts them.
  const copyIn = ['cp', `${s.tree}/.`, `${image}:/`]
  copyFileSync(blank, image)
  await uklklRun(copyIn)
  await s.verifyImage(image)
  const writeTree = await repeat(s.runs, async () => {
    copyFileSync(blank, image)
    return wall(() => uklklRun(copyIn))
  })
  copyFileSync(blank, image)
  const processMs = await wall(() => run(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(REPO, 'src/cli/main.ts'), ...copyIn]))
  await s.verifyImage(image)
  console.log(`uklkl: \`uklkl cp\` as a process of its own (node, tsx, boot, copy, unmount): ${processMs.toFixed(0)} ms, once`)

  const out = path.join(s.work, 'out')
  const copyOut = ['cp', `${s.treeImage}:/.`, out]
  await uklklRun(copyOut)
  s.verifyTree(out)
  const readTree = await repeat(s.runs, () => {
    rmSync(out, { recursive: true, force: true })
    return wall(() => uklklRun(copyOut))
  })

  // ext2fs's task: each file into the process, the image opened (boot, mount) and closed in the timing.
  const files = Object.entries(s.manifest).flatMap(([relative, entry]) => (entry.type === 'file' ? [relative] : []))
  const readAll = async (check: boolean): Promise<void> => {
    const opened = await openImage(s.treeImage, { readOnly: true, synchronous: true })
    try {
      for (const relative of files) {
        const bytes = await opened.fs.readFile(`/${relative}`)
        if (check) s.verifyFile(relative, bytes)
      }
    } finally {
      await opened.close()
    }
  }
  await readAll(true)
  const readFiles = await repeat(s.runs, () => wall(() => readAll(false)))

  const random = await openImage(s.randomImage, { readOnly: true })
  let randomRead: Timing
  try {
    const file = await random.fs.open(s.randomPath, 'r')
    try {
      const buffer = Buffer.alloc(s.readBytes)
      const expected = readFileSync(s.randomFile)
      for (const offset of s.offsets.slice(0, 100)) {
        await file.read(buffer, 0, s.readBytes, offset)
        if (!buffer.equals(expected.subarray(offset, offset + s.readBytes))) throw new Error(`k.fs read other bytes at ${offset} of ${s.randomPath}`)
      }
      randomRead = await repeat(s.runs, async () => 1000 * await wall(async () => {
        for (const offset of s.offsets) await file.read(buffer, 0, s.readBytes, offset)
      }) / s.offsets.length)
    } finally {
      await file.close()
    }
  } finally {
    await random.close()
  }

  const mount = await repeat(s.runs, async () => {
    const start = performance.now()
    const opened = await openImage(s.treeImage, { readOnly: true })
    const ms = performance.now() - start
    await opened.close()
    return ms
  })
  const k = await startKernel({ disks: [uklklFileDisk(s.treeImage, { readOnly: true })] })
  try {
    const disk = k.disks[0]
    if (disk === undefined) throw new Error('the kernel has no disk')
    const mountAlone = await repeat(s.runs, async () => {
      const start = performance.now()
      const target = await k.mount(disk, { readOnly: true })
      const ms = performance.now() - start
      await k.umount(target)
      return ms
    })
    console.log(`uklkl: mount alone (k.mount on a booted kernel, ext4, read-only): median ${mountAlone.median.toFixed(1)} ms (${mountAlone.min.toFixed(1)}–${mountAlone.max.toFixed(1)})`)
  } finally {
    await k.halt()
  }
  console.log(`uklkl: load average ${loadAverage()} after`)
  return { writeTree, readTree, readFiles, randomRead, mount }
}

// ---------------------------------------------------------------------------------------------
// The bench

async function prepare(root: string): Promise<Omit<DiskBenchSetup, 'work'>> {
  const tree = path.join(root, 'tree')
  console.log(`seeding the tree (${BENCH_TREE.files} files, ${BENCH_TREE.totalBytes / MiB} MiB, ${BENCH_TREE.dirs} directories)`)
  const manifest = seededTree(tree, BENCH_TREE)
  const treeImage = path.join(root, 'tree.img')
  run('mke2fs', ['-q', '-t', 'ext4', '-d', tree, treeImage, IMAGE_SIZE])

  const randomDir = path.join(root, 'random')
  mkdirSync(randomDir)
  const randomFile = path.join(randomDir, path.basename(RANDOM_PATH))
  const prng = new Prng(BENCH_TREE.seed, 1)
  const words = new Uint32Array(RANDOM_FILE_BYTES / 4)
  for (let i = 0; i < words.length; i++) words[i] = prng.next()
  writeFileSync(randomFile, words)
  const randomImage = path.join(root, 'random.img')
  run('mke2fs', ['-q', '-t', 'ext4', '-d', randomDir, randomImage, '64M'])
  const offsets = Array.from({ length: READS }, () => prng.below(RANDOM_FILE_BYTES / READ_BYTES) * READ_BYTES)

  const files = contentsOf(manifest)
  const verifyTree = (dir: string): void => {
    const found = contentsOf(manifestOf(dir, { ignore: ['lost+found'] }))
    const wrong = [...new Set([...Object.keys(files), ...Object.keys(found)])].filter((p) => files[p] !== found[p])
    if (wrong.length > 0) throw new Error(`${dir} does not hold the tree: ${wrong.length} paths differ, e.g. ${wrong.slice(0, 5).join(', ')}`)
  }
  return {
    tree, manifest, treeImage, randomFile, randomImage, randomPath: RANDOM_PATH, offsets, readBytes: READ_BYTES, runs: RUNS,
    verifyTree,
    async verifyImage(imagePath) {
      const check = await fsck(imagePath, 'ext4')
      if (!check.clean) throw new Error(`e2fsck -fn finds ${imagePath} unclean:\n${check.output}`)
      const out = mkdtempSync(path.join(root, 'verify-'))
      try {
        await readBack(imagePath, 'ext4', out)
        verifyTree(out)
      } finally {
        rmSync(out, { recursive: true, force: true })
      }
    },
    verifyFile(relative, bytes) {
      const found = `file ${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`
      if (files[relative] !== found) throw new Error(`${relative} read back as ${found}, not ${files[relative] ?? 'nothing (no such file)'}`)
    },
  }
}

type Side = 'native' | 'ext2fs' | 'uklkl'

/** Run the disk bench; uklkl produces the uklkl column (until the device lands, none: "pending"). */
export async function diskBench(uklkl?: UklklFigures): Promise<void> {
  const root = mkdtempSync(path.join(scratchRoot(), 'uklkl-bench-disk-'))
  try {
    const common = await prepare(root)
    const figures: Partial<Record<Side, DiskFigures>> = {}
    const sides: [Side, ((s: DiskBenchSetup) => Promise<DiskFigures>) | undefined][] = [
      ['native', nativeFigures], ['ext2fs', ext2fsFigures], ['uklkl', uklkl],
    ]
    for (const [side, produce] of sides) {
      if (produce === undefined) continue
      console.log(`measuring ${side} (${RUNS} runs after a warm-up)`)
      const work = path.join(root, side)
      mkdirSync(work)
      try {
        figures[side] = await produce({ ...common, work })
      } finally {
        rmSync(work, { recursive: true, force: true })
      }
    }
    report(figures, uklkl !== undefined, root)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

const TASKS: { key: keyof DiskFigures; what: string }[] = [
  { key: 'writeTree', what: `tree (${BENCH_TREE.files} files, 40 MiB) into a fresh ${IMAGE_SIZE} ext4 image (ms)` },
  { key: 'readTree', what: 'tree copied back out of the image into a host directory (ms)' },
  { key: 'readFiles', what: 'every file of the tree read into the process: open, fstat, read, close (ms)' },
  { key: 'randomRead', what: `random 4 KiB read from a 32 MiB file, mean of ${READS} (µs)` },
  { key: 'mount', what: 'mount the tree\'s image, read-only (ms)' },
]

function report(figures: Partial<Record<Side, DiskFigures>>, measuredUklkl: boolean, root: string): void {
  const cell = (side: Side, key: keyof DiskFigures): string | number => {
    if (side === 'uklkl' && !measuredUklkl) return 'pending'
    return figures[side]?.[key]?.median ?? '-'
  }
  const ratio = (a: string | number, b: string | number): string | number =>
    typeof a === 'number' && typeof b === 'number' ? a / b : a === 'pending' || b === 'pending' ? 'pending' : '-'
  const rows: Row[] = TASKS.map(({ key, what }) => {
    const native = cell('native', key)
    const ext = cell('ext2fs', key)
    const ours = cell('uklkl', key)
    return {
      task: what,
      'native (e2fsprogs, host fs, host kernel)': native,
      ext2fs: ext,
      uklkl: ours,
      'uklkl ÷ native (goal ≤ 5)': ratio(ours, native),
      'ext2fs ÷ uklkl (goal ≥ 3)': ratio(ext, ours),
    }
  })
  printTable(`Disk: medians of ${RUNS} runs (${path.dirname(root)})`, rows)
  const detail: Row[] = []
  for (const [side, sideFigures] of Object.entries(figures)) {
    for (const { key, what } of TASKS) {
      const t = sideFigures[key]
      if (t !== undefined) detail.push({ side, task: what, median: t.median, min: t.min, max: t.max })
    }
  }
  printTable('Disk: each figure\'s spread', detail)
  console.log(`\nwrote ${writeResults('disk', { tree: BENCH_TREE, runs: RUNS, reads: READS, scratch: path.dirname(root), uklkl: measuredUklkl ? 'measured' : 'pending', figures })}`)
}
