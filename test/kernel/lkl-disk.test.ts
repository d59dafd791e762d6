// SPDX-License-Identifier: MIT
// LKL's disk test (tools/lkl/tests/disk.c) written the LKL way with uklkl/lkl's
// names, once per filesystem: disk_add, start_kernel, mount_dev, chdir to the mount
// point, opendir/readdir/closedir, umount_dev, stop_kernel, disk_remove. The images
// are made by mke2fs -d and mkfs.vfat + mcopy from a seeded tree, so readdir must
// list exactly what those tools put in the root.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileDisk } from '../../src/index.js'
import lkl, { type LklDir, lkl_host_ops } from '../../src/lkl.js'
import { type Fstype, fsck, makeExt4, makeVfat, seededTree } from '../support/images.js'

let work: string
let treeNames: string[]
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'uklkl-lkl-disk-'))
  const manifest = seededTree(path.join(work, 'tree'), { seed: 9, files: 12, totalBytes: 96 * 1024, dirs: 3 })
  treeNames = Object.keys(manifest).filter((p) => !p.includes('/'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

describe.sequential.each(['ext4', 'vfat'] as const)("LKL's disk.c on %s, with LKL's names", (fstype: Fstype) => {
  let diskId = -1
  let image = ''
  const mntStr = new Uint8Array(32)
  const mountPoint = (): string => new TextDecoder().decode(mntStr.subarray(0, mntStr.indexOf(0)))
  let dir: LklDir | null = null

  it('disk_add', async () => {
    image = path.join(work, `${fstype}.img`)
    const make = fstype === 'ext4' ? makeExt4 : makeVfat
    await make(image, { sizeMiB: 16, from: path.join(work, 'tree') })
    diskId = lkl.lkl_disk_add(fileDisk(image))
    expect(diskId).toBe(0)
  })
  it('start_kernel', async () => expect(await lkl.lkl_start_kernel(lkl_host_ops, 'mem=32M loglevel=8')).toBe(0))
  it('a disk added while a kernel runs is refused', () => expect(lkl.lkl_disk_add(fileDisk(image))).toBe(-lkl.LKL_EBUSY))
  it('mount_dev', async () => {
    expect(await lkl.lkl_mount_dev(diskId, 0, fstype, 0, null, mntStr)).toBe(0)
    expect(mountPoint()).toBe('/mnt/vda')
  })
  it('mount_dev of a partition the disk lacks is -EINVAL', async () => {
    expect(await lkl.lkl_mount_dev(diskId, 3, fstype, 0, null, new Uint8Array(32))).toBe(-lkl.LKL_EINVAL)
  })
  it('chdir_mnt_point', async () => expect(await lkl.lkl_sys_chdir(mountPoint())).toBe(0))
  it('opendir', async () => {
    const err = new Int32Array(1)
    dir = await lkl.lkl_opendir(mountPoint(), err)
    expect(err[0]).toBe(0)
    expect(dir).not.toBeNull()
  })
  it('readdir', async () => {
    if (dir === null) return expect.fail('no directory open')
    const names: string[] = []
    for (let entry = await lkl.lkl_readdir(dir); entry !== null; entry = await lkl.lkl_readdir(dir)) names.push(entry.d_name)
    expect(lkl.lkl_errdir(dir)).toBe(0)
    const expected = [...treeNames, '.', '..', ...(fstype === 'ext4' ? ['lost+found'] : [])]
    expect(names.sort()).toEqual(expected.sort())
  })
  it('closedir', async () => {
    if (dir === null) return expect.fail('no directory open')
    expect(await lkl.lkl_closedir(dir)).toBe(0)
  })
  it('umount_dev', async () => {
    expect(await lkl.lkl_sys_chdir('/')).toBe(0)
    expect(await lkl.lkl_umount_dev(diskId, 0, 0, 1000)).toBe(0)
  })
  it('stop_kernel', async () => expect(await lkl.lkl_sys_halt()).toBe(0))
  it('disk_remove', async () => {
    expect(lkl.lkl_disk_remove(diskId)).toBe(0)
    expect(lkl.lkl_disk_remove(diskId)).toBe(-22)
    // The image the kernel mounted and unmounted is clean to its own checker.
    expect((await fsck(image, fstype)).clean).toBe(true)
  })
})
