// SPDX-License-Identifier: MIT
/**
 * disk-corrupt.test.ts - damaged filesystem images (issue 9, scope 7): from a
 * fixed seed, an ext4 and a vfat image of a small seeded tree (made by mke2fs -d
 * and mkfs.vfat + mcopy), and their corrupted variants (corruptImages: truncated,
 * zeroed superblock or boot sector, all zeroes, byte flips in each metadata
 * region). Each variant is a memory disk of one kernel per image type; the test
 * mounts it (the type given, so the kernel parses the damage itself), walks the
 * whole tree through k.sys (getdents64, statx, open and read every file,
 * readlinkat), unmounts it, and checks that the kernel still answers.
 *
 * Every failure must be the kernel's refusal - a mount error carrying a
 * LinuxError, or a LinuxError from a syscall - never a trap, a panic, a stopped
 * runtime or a hang (each variant has a time bound; the walk bounds entries,
 * depth and bytes). The undamaged image is walked too and must match the tree
 * the tools wrote, so a walk that sees nothing cannot pass for a clean one.
 * A summary of every variant's outcome is printed.
 *
 * Limits: one seed, images of 8 MiB; corruptImages damages the metadata near the
 * start of the image only (see test/support/images.ts).
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Kernel, type KernelDisk, LinuxError, UklklError, memoryDisk, startKernel } from '../../src/index.js'
import { type CorruptImage, type Fstype, contentsOf, corruptImages, makeExt4, makeVfat, seededTree } from '../support/images.js'

const SEED = 0x5eed_0907
/** A tree small enough to walk in milliseconds, with nesting and files of a few sectors to a few clusters. */
const TREE = { seed: SEED, files: 24, totalBytes: 160 * 1024, dirs: 6, minBytes: 16, maxBytes: 32 * 1024 }
const IMAGE_MIB = 8
/** One variant's mount, walk and unmount; a healthy one takes well under a second. */
const VARIANT_BUDGET_MS = 30_000
/** One image type: its boot(s) and variants take about 15 s on a shared 2-core machine; one hung variant fits too. */
const TEST_BUDGET_MS = 180_000
/** Bounds of a walk over damaged directories: a corrupt one may claim anything. */
const MAX_ENTRIES = 4096
const MAX_DEPTH = 16
const MAX_FILE_BYTES = 16 * 1024 * 1024
const MAX_GETDENTS_CALLS = 1024
/** errno names that would mean our side is wrong, not the image: a bad pointer, a missing syscall, a bad fd. */
const HOST_BUG_CODES = new Set(['EFAULT', 'ENOSYS', 'EBADF'])

let work: string
const base = new Map<Fstype, Buffer>()
let expectedContents: Record<string, string>

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'uklkl-corrupt-'))
  const tree = path.join(work, 'tree')
  expectedContents = contentsOf(seededTree(tree, TREE))
  const ext4 = path.join(work, 'base-ext4.img')
  const vfat = path.join(work, 'base-vfat.img')
  await makeExt4(ext4, { sizeMiB: IMAGE_MIB, from: tree })
  await makeVfat(vfat, { sizeMiB: IMAGE_MIB, from: tree })
  base.set('ext4', await readFile(ext4))
  base.set('vfat', await readFile(vfat))
})

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

/** What happened to one variant. */
interface Outcome {
  variant: string
  /** 'mounted', or the mount's refusal ('refused EINVAL'). */
  mount: string
  entries: number
  filesRead: number
  bytesRead: number
  /** LinuxError codes of the walk and umount, with counts. */
  errors: Map<string, number>
  /** Anything that is not the kernel refusing: the test fails on these. */
  bad: string[]
  /** The tree as walked (path → 'dir' | 'file SIZE SHA256' | 'symlink → target'), for the undamaged image. */
  contents: Record<string, string>
  /** Kernel messages about the filesystem while this variant was in use. */
  fsMessages: number
  /** Files that read back whole but differ from the tree written (damage the kernel did not notice). */
  differs: number
}

function count(errors: Map<string, number>, code: string): void {
  errors.set(code, (errors.get(code) ?? 0) + 1)
}

/** Record error as the kernel refusing (a LinuxError), or as bad. */
function note(outcome: Outcome, where: string, error: unknown): void {
  if (error instanceof LinuxError && !HOST_BUG_CODES.has(error.code)) count(outcome.errors, error.code)
  else outcome.bad.push(`${where}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`)
}

const decoder = new TextDecoder()

/** The names in a directory (not . and ..), or null when the kernel refused to list it. */
async function list(k: Kernel, dir: string, outcome: Outcome): Promise<string[] | null> {
  const { AT_FDCWD, O_RDONLY, O_DIRECTORY } = k.constants
  let fd: number
  try {
    fd = await k.sys.openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0)
  } catch (error) {
    note(outcome, `open ${dir}`, error)
    return null
  }
  const names: string[] = []
  try {
    const buf = new Uint8Array(4096)
    for (let call = 0; call < MAX_GETDENTS_CALLS && names.length < MAX_ENTRIES; call++) {
      const n = await k.sys.getdents64(fd, buf, buf.length)
      if (n === 0) break
      for (let at = 0; at < n;) {
        const entry = k.decode('linux_dirent64', buf.subarray(0, n), at)
        const raw = entry.d_name.subarray(0, Math.max(0, entry.d_reclen - 19))
        const end = raw.indexOf(0)
        const name = decoder.decode(end < 0 ? raw : raw.subarray(0, end))
        if (name !== '.' && name !== '..') names.push(name)
        if (entry.d_reclen <= 0) throw new Error(`getdents64 of ${dir}: a record of length ${entry.d_reclen}`)
        at += entry.d_reclen
      }
    }
  } catch (error) {
    note(outcome, `getdents64 ${dir}`, error)
  } finally {
    await k.sys.close(fd).catch((error: unknown) => note(outcome, `close ${dir}`, error))
  }
  return names
}

/** Read a whole file (at most MAX_FILE_BYTES); its SHA-256, or null when refused. */
async function readWhole(k: Kernel, file: string, outcome: Outcome): Promise<{ size: number, sha256: string } | null> {
  let fd: number
  try {
    fd = await k.sys.openat(k.constants.AT_FDCWD, file, k.constants.O_RDONLY | k.constants.O_NOFOLLOW, 0)
  } catch (error) {
    note(outcome, `open ${file}`, error)
    return null
  }
  try {
    const hash = createHash('sha256')
    const buf = new Uint8Array(64 * 1024)
    let size = 0
    while (size < MAX_FILE_BYTES) {
      const n = await k.sys.read(fd, buf, buf.length)
      if (n === 0) break
      hash.update(buf.subarray(0, n))
      size += n
    }
    outcome.filesRead++
    outcome.bytesRead += size
    return { size, sha256: hash.digest('hex') }
  } catch (error) {
    note(outcome, `read ${file}`, error)
    return null
  } finally {
    await k.sys.close(fd).catch((error: unknown) => note(outcome, `close ${file}`, error))
  }
}

/** Walk dir (relative path rel under the mount): stat every entry, read every file and link, descend into directories. */
async function walk(k: Kernel, root: string, rel: string, depth: number, outcome: Outcome): Promise<void> {
  const dir = rel === '' ? root : `${root}/${rel}`
  const names = await list(k, dir, outcome)
  if (names === null) return
  const { AT_FDCWD, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = k.constants
  for (const name of names) {
    if (outcome.entries >= MAX_ENTRIES) return
    outcome.entries++
    const child = rel === '' ? name : `${rel}/${name}`
    const full = `${root}/${child}`
    const statx = k.buffer('statx')
    try {
      await k.sys.statx(AT_FDCWD, full, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, statx)
    } catch (error) {
      note(outcome, `statx ${full}`, error)
      continue
    }
    const { stx_mode: mode, stx_size: size } = k.decode('statx', statx)
    const type = mode & S_IFMT
    if (type === S_IFDIR) {
      outcome.contents[child] = 'dir'
      if (depth < MAX_DEPTH) await walk(k, root, child, depth + 1, outcome)
    } else if (type === S_IFREG) {
      const read = await readWhole(k, full, outcome)
      if (read !== null) {
        outcome.contents[child] = `file ${read.size} ${read.sha256}`
        // A file that reads back longer or shorter than it says is worth seeing in the summary.
        if (BigInt(read.size) !== size && read.size < MAX_FILE_BYTES) count(outcome.errors, 'size≠statx')
      }
    } else if (type === S_IFLNK) {
      const target = new Uint8Array(4096)
      try {
        const n = await k.sys.readlinkat(AT_FDCWD, full, target, target.length)
        outcome.contents[child] = `symlink → ${decoder.decode(target.subarray(0, n))}`
      } catch (error) {
        note(outcome, `readlinkat ${full}`, error)
      }
    } else {
      outcome.contents[child] = `type 0o${type.toString(8)}`
    }
  }
}

/** Mount, walk and unmount one variant's disk. */
async function tryVariant(k: Kernel, disk: KernelDisk, fstype: Fstype, variant: string): Promise<Outcome> {
  const outcome: Outcome = { variant, mount: '', entries: 0, filesRead: 0, bytesRead: 0, errors: new Map(), bad: [], contents: {}, fsMessages: 0, differs: 0 }
  const consoleBefore = k.console().length
  let where: string | null = null
  try {
    where = await k.mount(disk, { fstype })
    outcome.mount = 'mounted'
  } catch (error) {
    // A mount the kernel refused: disk.ts wraps its LinuxError.
    if (error instanceof UklklError && error.cause instanceof LinuxError && !HOST_BUG_CODES.has(error.cause.code)) {
      outcome.mount = `refused ${error.cause.code}`
    } else {
      outcome.mount = 'failed'
      note(outcome, 'mount', error)
    }
  }
  if (where !== null) {
    await walk(k, where, '', 0, outcome)
    await k.umount(where).catch((error: unknown) => note(outcome, `umount ${where}`, error))
  }
  const pid = await k.sys.getpid().catch((error: unknown) => error)
  if (pid !== 1) outcome.bad.push(`getpid after the variant: ${pid instanceof Error ? `${pid.name}: ${pid.message}` : String(pid)}`)
  outcome.differs = Object.entries(outcome.contents)
    .filter(([where, what]) => what.startsWith('file ') && expectedContents[where] !== undefined && expectedContents[where] !== what).length
  outcome.fsMessages = k.console().slice(consoleBefore).split('\n').filter((line) => /EXT4-fs|FAT-fs|JBD2/.test(line)).length
  return outcome
}

/** tryVariant within VARIANT_BUDGET_MS; a variant that takes longer is a hang. */
async function bounded(k: Kernel, disk: KernelDisk, fstype: Fstype, variant: string): Promise<Outcome | 'hang'> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), VARIANT_BUDGET_MS)
  })
  try {
    return await Promise.race([tryVariant(k, disk, fstype, variant), deadline])
  } finally {
    clearTimeout(timer)
  }
}

function summary(fstype: Fstype, outcomes: readonly Outcome[]): string {
  const rows = outcomes.map((o) => {
    const errors = [...o.errors].map(([code, n]) => `${code}×${n}`).join(' ') || '-'
    return `  ${o.variant.padEnd(26)} ${o.mount.padEnd(16)} entries ${String(o.entries).padStart(3)}  files ${String(o.filesRead).padStart(3)}`
      + `  ${String(o.bytesRead).padStart(7)} B  differing ${String(o.differs).padStart(2)}  fs messages ${String(o.fsMessages).padStart(3)}  errors ${errors}${o.bad.length > 0 ? `  BAD: ${o.bad.join('; ')}` : ''}`
  })
  return [`${fstype}: ${outcomes.length} images from seed 0x${SEED.toString(16)}`, ...rows].join('\n')
}

/**
 * Every variant of one image type in as few kernels as possible: one kernel holds
 * them all as disks (vda, vdb, …); only a kernel that stopped is replaced, with
 * the variants it had not reached.
 */
async function runAll(fstype: Fstype, variants: readonly CorruptImage[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  let pending = [...variants]
  while (pending.length > 0) {
    // Copies: a memory disk writes into the bytes it is given, and a replay must not change the next kernel's.
    const k = await startKernel({ disks: pending.map((v) => memoryDisk(new Uint8Array(v.bytes))) })
    let done = 0
    let hung = false
    for (const [i, variant] of pending.entries()) {
      const disk = k.disks[i] ?? expect.fail(`no disk ${i}`)
      const outcome = await bounded(k, disk, fstype, variant.name)
      done++
      if (outcome === 'hang') {
        outcomes.push({
          variant: variant.name, mount: 'hang', entries: 0, filesRead: 0, bytesRead: 0, errors: new Map(),
          bad: [`no answer within ${VARIANT_BUDGET_MS} ms`], contents: {}, fsMessages: 0, differs: 0,
        })
        hung = true
        break
      }
      outcomes.push(outcome)
      if (outcome.bad.length > 0 && (await k.sys.getpid().catch(() => null)) !== 1) break
    }
    // A hung kernel cannot unmount: stop it by force (halt's bound) without waiting on its filesystems.
    const halted = hung ? null : await k.halt().catch((error: unknown) => error)
    if (halted !== 0 && !hung) {
      const last = outcomes.at(-1)
      last?.bad.push(`halt: ${halted instanceof Error ? `${halted.name}: ${halted.message}` : String(halted)}`)
    }
    if (hung) break
    pending = pending.slice(done)
  }
  return outcomes
}

describe('corrupted images fail cleanly', () => {
  for (const fstype of ['ext4', 'vfat'] as const) {
    it(`${fstype}: every seeded corruption is refused at mount or walked with Linux errors only; the kernel answers and halts`, async () => {
      const image = base.get(fstype) ?? expect.fail(`no ${fstype} image`)
      const variants = [{ name: 'undamaged', bytes: image }, ...corruptImages(image, SEED)]
      const outcomes = await runAll(fstype, variants)
      console.log(summary(fstype, outcomes))
      expect(outcomes.map((o) => o.variant), 'a kernel stopped before every variant was tried').toEqual(variants.map((v) => v.name))
      for (const o of outcomes) expect(o.bad, `${o.variant}: failures that are not the kernel refusing`).toEqual([])
      // The undamaged image is the walk's own check: it must find exactly the tree mke2fs / mcopy wrote.
      const clean = outcomes[0] ?? expect.fail('no outcome for the undamaged image')
      expect(clean.mount).toBe('mounted')
      expect(clean.errors.size, `errors on the undamaged image: ${[...clean.errors.keys()].join(', ')}`).toBe(0)
      const walked = Object.fromEntries(Object.entries(clean.contents).filter(([p]) => p !== 'lost+found').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      expect(walked).toEqual(expectedContents)
      // The damage is real: not every variant mounts and reads back the tree unharmed.
      const harmed = outcomes.slice(1).filter((o) => o.mount !== 'mounted' || o.errors.size > 0)
      expect(harmed.length, 'no corrupted variant was refused or gave an error').toBeGreaterThan(0)
    }, TEST_BUDGET_MS)
  }
})
