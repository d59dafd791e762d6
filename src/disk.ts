// SPDX-License-Identifier: MIT
/**
 * disk.ts - the kernel's disks as users see them: k.disks (one per backend given to
 * startKernel, in order: vda, vdb, …), mounting one (or one of its partitions) with
 * the filesystem type found from its superblock, and unmounting with the data on
 * the backend.
 *
 * The kernel finds partitions itself (MBR and GPT) when the disk appears, and
 * devtmpfs (mounted at /dev at boot when there are disks) makes their nodes:
 * /dev/vda, /dev/vda1, … - no mknod from sysfs numbers as LKL's lkl_mount_dev.
 *
 * Limits: disks are plugged in at boot, not later; the filesystem types detected
 * are ext2/3/4, vfat, btrfs, xfs, iso9660 and squashfs - the kernel must have the
 * driver too (ext4 and vfat by default; see wasm/README.md for the others).
 */
import { UklklError } from './errors.js'
import type { BlockBackend } from './devices/block/backends.js'
import type { BlockStats } from './devices/block/virtio-blk.js'
import { LinuxError } from './errors.js'
import type { Constants, Syscalls } from './generated/kernel-api.js'

export interface DiskMountOptions {
  /** The filesystem type; found from the superblock when not given. */
  fstype?: string
  /** Mount partition N (1-based, MBR or GPT) rather than the whole disk. */
  partition?: number
  /** Mount read-only (always so for a read-only disk). */
  readOnly?: boolean
  /** The filesystem's option string, e.g. 'errors=remount-ro'. */
  options?: string
  /** The mount point, created if missing; /mnt/<device> by default. */
  target?: string
}

/** One of the kernel's virtio-blk disks. */
export class KernelDisk {
  /** Statistics of its requests as the device served them. */
  readonly stats: BlockStats

  constructor(
    /** The kernel's name for it: vda, vdb, … */
    readonly name: string,
    readonly backend: BlockBackend,
    stats: BlockStats,
  ) {
    this.stats = stats
  }

  get readOnly(): boolean {
    return this.backend.readOnly
  }

  /** Bytes. */
  get size(): number {
    return this.backend.size
  }

  /** Its device node in the kernel (partition N's with a number). */
  devicePath(partition?: number): string {
    return `/dev/${this.name}${partition === undefined ? '' : partition}`
  }
}

/** What mounting needs of a kernel. */
export interface MountHost {
  readonly sys: Syscalls
  readonly constants: Constants
}

const SUPERBLOCK_PROBE = 0x10048

/** The filesystem type from a volume's first bytes (at least 68 KiB of them), or null. */
export function detectFstype(head: Uint8Array): string | null {
  const ascii = (offset: number, length: number): string => String.fromCharCode(...head.subarray(offset, offset + length))
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  if (head.length >= 1024 + 58 && view.getUint16(1024 + 56, true) === 0xef53) return 'ext4'
  if (ascii(0, 4) === 'XFSB') return 'xfs'
  if (ascii(0, 4) === 'hsqs') return 'squashfs'
  if (head.length >= SUPERBLOCK_PROBE && ascii(0x10040, 8) === '_BHRfS_M') return 'btrfs'
  if (head.length >= 0x8006 && ascii(0x8001, 5) === 'CD001') return 'iso9660'
  if (head[510] === 0x55 && head[511] === 0xaa && (ascii(54, 3) === 'FAT' || ascii(82, 5) === 'FAT32')) return 'vfat'
  return null
}

/** Make sure dir exists (mkdir -p). */
export async function makeDirs(host: MountHost, dir: string): Promise<void> {
  let path = ''
  for (const part of dir.split('/').filter((p) => p !== '')) {
    path += `/${part}`
    await host.sys.mkdirat(host.constants.AT_FDCWD, path, 0o755).catch((error: unknown) => {
      if (!(error instanceof LinuxError && error.code === 'EEXIST')) throw error
    })
  }
}

async function exists(host: MountHost, path: string): Promise<boolean> {
  return host.sys.faccessat(host.constants.AT_FDCWD, path, 0).then(() => true, (error: unknown) => {
    if (error instanceof LinuxError && error.code === 'ENOENT') return false
    throw error
  })
}

/** The device node of a disk or one of its partitions (devtmpfs makes them as the kernel finds them). */
async function deviceNode(host: MountHost, disk: KernelDisk, partition: number | undefined): Promise<string> {
  const node = disk.devicePath(partition)
  if (await exists(host, node)) return node
  throw new UklklError(partition === undefined ? `disk ${disk.name} has no device node ${node} (did it fail to probe? see k.console())`
    : `disk ${disk.name} has no partition ${partition}: its partition table has no such entry`)
}

/** Read the first bytes of a device node and name its filesystem. */
async function probe(host: MountHost, node: string): Promise<string> {
  const { AT_FDCWD, O_RDONLY } = host.constants
  const fd = await host.sys.openat(AT_FDCWD, node, O_RDONLY, 0)
  try {
    const head = new Uint8Array(SUPERBLOCK_PROBE)
    let got = 0
    while (got < head.length) {
      const n = await host.sys.pread64(fd, head.subarray(got), head.length - got, BigInt(got))
      if (n <= 0) break
      got += n
    }
    const fstype = detectFstype(head.subarray(0, got))
    if (fstype === null) throw new UklklError(`${node}: no filesystem this kernel knows (give fstype to mount it anyway)`)
    return fstype
  } finally {
    await host.sys.close(fd)
  }
}

/** Mount disk (or a partition of it); resolves with the mount point, and whether it is mounted read-only. */
export async function mountDisk(host: MountHost, disk: KernelDisk, options: DiskMountOptions): Promise<{ target: string, readOnly: boolean }> {
  const { partition } = options
  if (partition !== undefined && !(Number.isInteger(partition) && partition >= 1)) {
    throw new RangeError(`partition is a number from 1, not ${partition}`)
  }
  const node = await deviceNode(host, disk, partition)
  const fstype = options.fstype ?? await probe(host, node)
  const target = options.target ?? `/mnt/${disk.name}${partition ?? ''}`
  await makeDirs(host, target)
  const readOnly = options.readOnly === true || disk.readOnly
  const data = options.options === undefined ? null : new TextEncoder().encode(`${options.options}\0`)
  try {
    await host.sys.mount(node, target, fstype, readOnly ? host.constants.MS_RDONLY : 0, data)
  } catch (error) {
    if (error instanceof LinuxError) {
      throw new UklklError(`mount ${node} (${fstype}) on ${target}: ${error.code}${
        error.code === 'EINVAL' || error.code === 'EUCLEAN' ? ' (not a valid filesystem of that type?)' : ''}`, { cause: error })
    }
    throw error
  }
  return { target, readOnly }
}

/** Sync and unmount the filesystem at target. */
export async function unmount(host: MountHost, target: string): Promise<void> {
  const { AT_FDCWD, O_RDONLY, O_DIRECTORY } = host.constants
  const fd = await host.sys.openat(AT_FDCWD, target, O_RDONLY | O_DIRECTORY, 0)
  try {
    await host.sys.syncfs(fd)
  } finally {
    await host.sys.close(fd)
  }
  await host.sys.umount2(target, 0)
}
