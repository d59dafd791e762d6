// SPDX-License-Identifier: MIT
// The disk fixtures of test/support/images.ts, checked against the tools they drive: every image
// they make is read back with e2fsprogs, mtools and sfdisk and must hold exactly the seeded tree,
// and every damaged variant must differ from its base (and, for ext4, fail e2fsck -fn).
// In the kernel project because it needs the tools that its global setup installs.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Manifest, contentsOf, corruptImages, extractPartition, fsck, makeExt4, makeVfat, manifestOf, partitionTable,
  partitioned, readBack, seededTree, toolEnv,
} from '../support/images.js'

const KiB = 1024
const MiB = 1024 * KiB
/** Small enough to make in milliseconds, big enough for nested directories and multi-block files. */
const SMALL_TREE = { seed: 11, files: 60, totalBytes: 600 * KiB, dirs: 8 }
/** The shape DEVICES.md §7 measured its peers on, which bench/disk.ts uses. */
const BENCH_TREE = { seed: 1, files: 2058, totalBytes: 40 * MiB, dirs: 100 }
const LINUX_GPT_TYPE = '0FC63DAF-8483-4772-8E79-3D69D8477DE4'

let work: string
let tree: string
let manifest: Manifest

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-images-test-'))
  tree = path.join(work, 'tree')
  manifest = seededTree(tree, SMALL_TREE)
})

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

/** A fresh path under the test's scratch directory. */
let serial = 0
function scratch(name: string): string {
  return path.join(work, `${serial++}-${name}`)
}

function files(m: Manifest): { path: string; size: number }[] {
  return Object.entries(m).flatMap(([where, e]) => (e.type === 'file' ? [{ path: where, size: e.size }] : []))
}

describe('seededTree', () => {
  it('writes what its manifest says, and the same seed writes the same tree', () => {
    expect(manifestOf(tree), 'the manifest describes the files on disk').toEqual(manifest)
    expect(seededTree(scratch('again'), SMALL_TREE), 'same options, same tree').toEqual(manifest)
    expect(contentsOf(seededTree(scratch('other'), { ...SMALL_TREE, seed: 12 })), 'another seed, other bytes').not.toEqual(contentsOf(manifest))
  })

  it('has the files, directories and total size asked for, nested, with both modes', () => {
    const entries = Object.values(manifest)
    expect(files(manifest)).toHaveLength(SMALL_TREE.files)
    expect(entries.filter((e) => e.type === 'dir')).toHaveLength(SMALL_TREE.dirs)
    expect(files(manifest).reduce((sum, f) => sum + f.size, 0)).toBe(SMALL_TREE.totalBytes)
    expect(Object.keys(manifest).some((where) => where.split('/').length >= 3), 'some directory is nested').toBe(true)
    const modes = new Set(entries.flatMap((e) => (e.type === 'file' ? [e.mode] : [])))
    expect([...modes].sort()).toEqual([0o644, 0o755])
  })

  it("has DEVICES.md §7's shape at the bench's size: 1–253 KiB, median ~2.4 KiB, 40 MiB exactly", () => {
    const big = seededTree(scratch('bench-tree'), BENCH_TREE)
    const sizes = files(big).map((f) => f.size).sort((a, b) => a - b)
    expect(sizes).toHaveLength(2058)
    expect(Object.values(big).filter((e) => e.type === 'dir')).toHaveLength(100)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(40 * MiB)
    expect(sizes[0]).toBeGreaterThanOrEqual(KiB)
    expect(sizes[sizes.length - 1]).toBeLessThanOrEqual(253 * KiB)
    const median = sizes[sizes.length >> 1] ?? 0
    expect(median, 'median file size').toBeGreaterThan(2 * KiB)
    expect(median, 'median file size').toBeLessThan(3 * KiB)
  })

  it('adds up to the total exactly, out to the bounds, whatever the seed', () => {
    for (const [i, totalBytes] of [3 * KiB, 3 * KiB + 1, 10_000, 3 * 253 * KiB - 1, 3 * 253 * KiB].entries()) {
      for (const seed of [1, 2, 3]) {
        const sizes = files(seededTree(scratch(`sum-${i}-${seed}`), { seed, files: 3, totalBytes, dirs: 0 })).map((f) => f.size)
        expect(sizes.reduce((a, b) => a + b, 0), `seed ${seed}, ${totalBytes} bytes`).toBe(totalBytes)
        expect(Math.min(...sizes)).toBeGreaterThanOrEqual(KiB)
        expect(Math.max(...sizes)).toBeLessThanOrEqual(253 * KiB)
      }
    }
  })

  it('refuses sizes that cannot add up and a directory that is not empty', () => {
    expect(() => seededTree(scratch('too-small'), { ...SMALL_TREE, totalBytes: SMALL_TREE.files * KiB - 1 })).toThrow(RangeError)
    expect(() => seededTree(scratch('too-big'), { ...SMALL_TREE, totalBytes: SMALL_TREE.files * 253 * KiB + 1 })).toThrow(RangeError)
    expect(() => seededTree(tree, SMALL_TREE)).toThrow(/not empty/)
  })
})

describe('ext4 images', () => {
  it('mke2fs -d makes an image that debugfs rdump reads back exactly, modes included, and e2fsck calls clean', async () => {
    const image = scratch('ext4.img')
    await makeExt4(image, { sizeMiB: 8, from: tree })
    expect(statSync(image).size).toBe(8 * MiB)
    const out = scratch('ext4-out')
    await readBack(image, 'ext4', out)
    expect(manifestOf(out, { ignore: ['lost+found'] })).toEqual(manifest)
    const check = await fsck(image, 'ext4')
    expect(check.clean, check.output).toBe(true)
  })

  it('e2fsck -fn on an image shorter than its superblock says is unclean, though e2fsck exits 0', async () => {
    // One block group (8 MiB of 1 KiB blocks): half of it loses no metadata, only the end of the device.
    const image = scratch('short.ext4')
    await makeExt4(image, { sizeMiB: 8, from: tree })
    truncateSync(image, 4 * MiB)
    const check = await fsck(image, 'ext4')
    expect(check.output).toMatch(/physical size of the device/)
    expect(check.clean).toBe(false)
  })

  it('an empty image holds only lost+found; a bad image makes readBack reject', async () => {
    const image = scratch('empty-ext4.img')
    await makeExt4(image, { sizeMiB: 4 })
    const out = scratch('empty-ext4-out')
    await readBack(image, 'ext4', out)
    expect(Object.keys(manifestOf(out))).toEqual(['lost+found'])
    const zeroes = scratch('zeroes.img')
    writeFileSync(zeroes, Buffer.alloc(MiB))
    await expect(readBack(zeroes, 'ext4', scratch('zeroes-out'))).rejects.toThrow(/rdump/)
  })
})

describe('vfat images', () => {
  it.each([12, 16, 32] as const)('FAT%i: mcopy -s writes the tree, mcopy reads it back exactly, fsck.vfat calls it clean', async (fatBits) => {
    const image = scratch(`fat${fatBits}.img`)
    // mkfs.vfat wants at least 4 085 clusters for FAT16 and 65 525 for FAT32 (of 512 bytes at these sizes).
    await makeVfat(image, { sizeMiB: { 12: 8, 16: 16, 32: 40 }[fatBits], from: tree, fatBits })
    const bytes = readFileSync(image)
    // The boot sector names its FAT type: at 54 for FAT12/16, at 82 for FAT32.
    expect(bytes.toString('latin1', fatBits === 32 ? 82 : 54, fatBits === 32 ? 90 : 62)).toBe(`FAT${fatBits}   `)
    const out = scratch(`fat${fatBits}-out`)
    await readBack(image, 'vfat', out)
    expect(contentsOf(manifestOf(out))).toEqual(contentsOf(manifest))
    const check = await fsck(image, 'vfat')
    expect(check.clean, check.output).toBe(true)
  })

  it('an empty image reads back as an empty tree', async () => {
    const image = scratch('empty.vfat')
    await makeVfat(image, { sizeMiB: 2 })
    const out = scratch('empty-vfat-out')
    await readBack(image, 'vfat', out)
    expect(manifestOf(out)).toEqual({})
  })
})

describe('partitioned disks', () => {
  it.each(['mbr', 'gpt'] as const)('%s: sfdisk --json sees the partitions, and each holds what its fill built', async (table) => {
    const image = scratch(`${table}.img`)
    const layout = await partitioned(image, {
      table,
      partitions: [
        { sizeMiB: 8, fill: (part, sizeMiB) => makeExt4(part, { sizeMiB, from: tree }) },
        { sizeMiB: 3 },
        { sizeMiB: 6, fill: (part, sizeMiB) => makeVfat(part, { sizeMiB, from: tree }) },
      ],
    })
    expect(layout).toEqual([
      { number: 1, start: 1 * MiB, size: 8 * MiB, type: expect.any(String) },
      { number: 2, start: 9 * MiB, size: 3 * MiB, type: expect.any(String) },
      { number: 3, start: 12 * MiB, size: 6 * MiB, type: expect.any(String) },
    ])
    expect(statSync(image).size).toBe((table === 'gpt' ? 19 : 18) * MiB)

    // The oracle: sfdisk's own reading of the table, in sectors.
    const json = JSON.parse(execFileSync('sfdisk', ['--json', image], { env: toolEnv, encoding: 'utf8' })) as {
      partitiontable: { label: string; sectorsize: number; partitions: { start: number; size: number; type: string }[] }
    }
    const sfdisk = json.partitiontable
    expect(sfdisk.label).toBe(table === 'mbr' ? 'dos' : 'gpt')
    expect(sfdisk.partitions.map((p) => [p.start * sfdisk.sectorsize, p.size * sfdisk.sectorsize]))
      .toEqual(layout.map((p) => [p.start, p.size]))
    expect(new Set(sfdisk.partitions.map((p) => p.type))).toEqual(new Set([table === 'mbr' ? '83' : LINUX_GPT_TYPE]))
    expect(await partitionTable(image)).toEqual({ label: sfdisk.label, partitions: layout })

    const first = scratch('part1.img')
    await extractPartition(image, 1, first)
    const firstOut = scratch('part1-out')
    await readBack(first, 'ext4', firstOut)
    expect(manifestOf(firstOut, { ignore: ['lost+found'] })).toEqual(manifest)
    expect((await fsck(first, 'ext4')).clean).toBe(true)

    const second = scratch('part2.img')
    await extractPartition(image, 2, second)
    expect(readFileSync(second).equals(Buffer.alloc(3 * MiB)), 'a partition without fill stays zeroes').toBe(true)

    const third = scratch('part3.img')
    await extractPartition(image, 3, third)
    const thirdOut = scratch('part3-out')
    await readBack(third, 'vfat', thirdOut)
    expect(contentsOf(manifestOf(thirdOut))).toEqual(contentsOf(manifest))
    expect((await fsck(third, 'vfat')).clean).toBe(true)
  })

  it('refuses a fifth MBR partition, contents larger than their partition and a partition that is not there', async () => {
    const four = Array.from({ length: 5 }, () => ({ sizeMiB: 1 }))
    await expect(partitioned(scratch('five.img'), { table: 'mbr', partitions: four })).rejects.toThrow(RangeError)
    const overfull = partitioned(scratch('overfull.img'), {
      table: 'gpt',
      partitions: [{ sizeMiB: 2, fill: (part) => makeExt4(part, { sizeMiB: 3 }) }],
    })
    await expect(overfull).rejects.toThrow(/more than its/)
    const disk = scratch('one.img')
    await partitioned(disk, { table: 'gpt', partitions: [{ sizeMiB: 1 }] })
    await expect(extractPartition(disk, 2, scratch('none.img'))).rejects.toThrow(/no partition 2/)
  })
})

describe('corruptImages', () => {
  const SEEDS = [1, 2, 3]
  const REGION_FLIPS = 4
  const METADATA_FLIPS = 32
  let ext4Base: Buffer
  let vfatBase: Buffer

  beforeAll(async () => {
    const ext4 = scratch('corrupt-base.ext4')
    // 16 MiB of 1 KiB blocks: two block groups, so the group descriptors are more than one.
    await makeExt4(ext4, { sizeMiB: 16, from: tree })
    ext4Base = readFileSync(ext4)
    const vfat = scratch('corrupt-base.vfat')
    await makeVfat(vfat, { sizeMiB: 8, from: tree })
    vfatBase = readFileSync(vfat)
  })

  /** How many bytes of two equally long images differ (compared 4 KiB at a time first: byte loops over MiBs are slow). */
  function differing(a: Buffer, b: Buffer): number {
    let count = 0
    for (let chunk = 0; chunk < a.length; chunk += 4 * KiB) {
      const end = Math.min(chunk + 4 * KiB, a.length)
      if (a.subarray(chunk, end).equals(b.subarray(chunk, end))) continue
      for (let i = chunk; i < end; i++) if (a[i] !== b[i]) count++
    }
    return count
  }

  it.each([
    ['ext4', ['zeroed-superblock', 'flips-superblock', 'flips-group-descriptors', 'flips-block-bitmap', 'flips-inode-bitmap', 'flips-inode-table', 'flips-root-directory']],
    ['vfat', ['zeroed-boot-sector', 'flips-boot-sector', 'flips-fat', 'flips-root-directory']],
  ] as const)('%s: each variant differs from the image, by as many bytes as it says', (kind, named) => {
    const base = kind === 'ext4' ? ext4Base : vfatBase
    for (const seed of SEEDS) {
      const variants = corruptImages(base, seed)
      expect(variants.map((v) => v.name).sort()).toEqual(['all-zero', 'flips-metadata', 'truncated-half', ...named].sort())
      for (const { name, bytes } of variants) {
        const where = `${kind} seed ${seed} ${name}`
        if (name === 'truncated-half') {
          expect(bytes.equals(base.subarray(0, base.length / 2)), where).toBe(true)
          continue
        }
        expect(bytes.length, where).toBe(base.length)
        expect(bytes.equals(base), where).toBe(false)
        if (name.startsWith('flips-')) expect(differing(bytes, base), where).toBe(name === 'flips-metadata' ? METADATA_FLIPS : REGION_FLIPS)
        if (name === 'all-zero') expect(bytes.equals(Buffer.alloc(base.length)), where).toBe(true)
      }
    }
  })

  it('the same seed gives the same variants, another seed other flips; a non-image is refused', () => {
    const again = corruptImages(ext4Base, 1)
    const first = corruptImages(ext4Base, 1)
    expect(again.every((v, i) => v.bytes.equals(first[i]?.bytes ?? Buffer.alloc(0)))).toBe(true)
    const other = corruptImages(ext4Base, 2)
    const flips = first.filter((v) => v.name.startsWith('flips-'))
    expect(flips.every((v) => !v.bytes.equals(other.find((o) => o.name === v.name)?.bytes ?? v.bytes))).toBe(true)
    expect(() => corruptImages(Buffer.alloc(64 * KiB), 1)).toThrow(TypeError)
  })

  it('e2fsck -fn finds every ext4 variant unclean', async () => {
    for (const seed of SEEDS) {
      for (const { name, bytes } of corruptImages(ext4Base, seed)) {
        const image = scratch(`${name}.ext4`)
        writeFileSync(image, bytes)
        const check = await fsck(image, 'ext4')
        expect(check.clean, `seed ${seed} ${name}: ${check.output}`).toBe(false)
      }
    }
  })

  it('fsck.vfat -n finds the vfat variants unclean that it can tell (not every flip in a name or a time is an error)', async () => {
    // Two FATs: a flip in the first makes them differ, which fsck.vfat always reports.
    const telling = new Set(['truncated-half', 'zeroed-boot-sector', 'all-zero', 'flips-fat'])
    for (const seed of SEEDS) {
      for (const { name, bytes } of corruptImages(vfatBase, seed).filter((v) => telling.has(v.name))) {
        const image = scratch(`${name}.vfat`)
        writeFileSync(image, bytes)
        const check = await fsck(image, 'vfat')
        expect(check.clean, `seed ${seed} ${name}: ${check.output}`).toBe(false)
      }
    }
  })
})

describe('the tools', () => {
  it('the global setup installed every one, on the PATH the fixtures use', () => {
    for (const command of ['mke2fs', 'e2fsck', 'debugfs', 'mkfs.vfat', 'fsck.vfat', 'mcopy', 'mdir', 'sfdisk', 'git']) {
      expect(() => execFileSync('sh', ['-c', `command -v ${command}`], { env: toolEnv }), command).not.toThrow()
    }
  })
})
