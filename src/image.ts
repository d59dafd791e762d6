// SPDX-License-Identifier: MIT
/**
 * image.ts - openImage(): a filesystem image on the host as a node:fs/promises-
 * shaped object, the way LKL's cptofs and lklfuse use a kernel: boot a kernel with
 * the image as its one disk, mount it (or one of its partitions), and hand out a
 * k.fs rooted at the mount point. close() unmounts and halts, so everything written
 * is on the image, its journal clean, and the image lock released.
 *
 * Limits: one image per kernel, each kernel loaded from the boot snapshot (tens of
 * milliseconds; the first in a cache boots): open several images on one kernel
 * with startKernel({ disks }) or k.addDisk and k.mount when that matters.
 */
import { fileDisk } from './devices/block/backends.js'
import type { KernelFs } from './fs/index.js'
import { kernelFs } from './fs/index.js'
import { type Kernel, type KernelOptions, startKernel } from './kernel.js'

export interface OpenImageOptions {
  /** Mount read-only and open the file read-only (no lock against other readers). */
  readOnly?: boolean
  /** The image's reads and writes as synchronous calls on the JS thread (fileDisk's option). */
  synchronous?: boolean
  /** The filesystem type; read from the superblock when not given. */
  fstype?: string
  /** Partition N (MBR or GPT) rather than the whole image. */
  partition?: number
  /** The filesystem's mount options, e.g. 'errors=remount-ro'. */
  options?: string
  /** Options of the kernel that serves it (memory, console, ...). */
  kernel?: Omit<KernelOptions, 'disks'>
}

export interface OpenedImage extends AsyncDisposable {
  /** node:fs/promises over the image: '/' is the filesystem's root. */
  readonly fs: KernelFs
  /** The kernel serving it, e.g. for k.sys calls on the mount point. */
  readonly kernel: Kernel
  /** Where the image is mounted in that kernel. */
  readonly mountPoint: string
  /** Unmount (syncing everything to the image) and halt the kernel. */
  close(): Promise<void>
}

/** Open the filesystem in the image at path (ext4, vfat, ... ; see KernelOptions.disks). */
export async function openImage(path: string, options: OpenImageOptions = {}): Promise<OpenedImage> {
  const readOnly = options.readOnly ?? false
  const kernel = await startKernel({ ...options.kernel, disks: [fileDisk(path, { readOnly, synchronous: options.synchronous ?? false })] })
  let mountPoint: string
  let fs: KernelFs
  try {
    const disk = kernel.disks[0]
    if (disk === undefined) throw new Error('the image\'s disk is missing')
    mountPoint = await kernel.mount(disk, {
      readOnly,
      ...(options.fstype === undefined ? {} : { fstype: options.fstype }),
      ...(options.partition === undefined ? {} : { partition: options.partition }),
      ...(options.options === undefined ? {} : { options: options.options }),
    })
    fs = kernelFs(kernel, { root: mountPoint })
  } catch (error) {
    await kernel.halt().catch(() => undefined)
    throw error
  }
  let closing: Promise<void> | null = null
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await fs.close()
      } finally {
        await kernel.halt()
      }
    })()
    return closing
  }
  return { fs, kernel, mountPoint, close, [Symbol.asyncDispose]: close }
}
