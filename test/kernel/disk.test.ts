// SPDX-License-Identifier: MIT
/**
 * disk.test.ts - virtio-blk disks in a booted kernel: the device as the kernel
 * sees it (size, serial, 64-bit sectors, read-only), requests that complete
 * asynchronously while other syscalls run, backend failures as EIO, the image
 * lock, the backends (file, memory, overlay) and mounting whole disks and
 * partitions - checked with e2fsprogs, dosfstools and mtools, not with our own
 * reading of the bytes.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BlockBackend, ImageLockedError, type Kernel, LinuxError, fileDisk, memoryDisk, overlayDisk, startKernel,
} from '../../src/index.js'
import { fsck, makeExt4, makeVfat, partitioned } from '../support/images.js'

let work: string
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'uklkl-disk-'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** A disk's raw bytes through the kernel's block device (the page cache, then virtio-blk). */
async function readDevice(k: Kernel, node: string, offset: number, length: number): Promise<Uint8Array> {
  const fd = await k.sys.openat(k.constants.AT_FDCWD, node, k.constants.O_RDONLY, 0)
  try {
    const bytes = new Uint8Array(length)
    expect(await k.sys.pread64(fd, bytes, length, BigInt(offset))).toBe(length)
    return bytes
  } finally {
    await k.sys.close(fd)
  }
}

async function writeDevice(k: Kernel, node: string, offset: number, bytes: Uint8Array): Promise<void> {
  const fd = await k.sys.openat(k.constants.AT_FDCWD, node, k.constants.O_RDWR, 0)
  try {
    expect(await k.sys.pwrite64(fd, bytes, bytes.length, BigInt(offset))).toBe(bytes.length)
    await k.sys.fsync(fd)
  } finally {
    await k.sys.close(fd)
  }
}

async function readKernelFile(k: Kernel, file: string): Promise<string> {
  const fd = await k.sys.openat(k.constants.AT_FDCWD, file, k.constants.O_RDONLY, 0)
  try {
    const bytes = new Uint8Array(4096)
    const n = await k.sys.read(fd, bytes, bytes.length)
    return new TextDecoder().decode(bytes.subarray(0, n))
  } finally {
    await k.sys.close(fd)
  }
}

async function writeKernelFile(k: Kernel, file: string, text: string): Promise<void> {
  const { AT_FDCWD, O_WRONLY, O_CREAT, O_TRUNC } = k.constants
  const fd = await k.sys.openat(AT_FDCWD, file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  try {
    const bytes = new TextEncoder().encode(text)
    expect(await k.sys.write(fd, bytes, bytes.length)).toBe(bytes.length)
  } finally {
    await k.sys.close(fd)
  }
}

/** A pattern that differs in every 512-byte sector. */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + Math.floor(i / 512) * 7 + seed) & 0xff
  return bytes
}

/** A backend in memory whose reads and writes the test can hold back or fail. */
class ControlledDisk implements BlockBackend {
  readonly description = 'controlled'
  readonly readOnly = false
  readonly serial = 'controlled-1'
  readonly inner: BlockBackend
  /** Reads wait for this while it is set. */
  gate: Promise<void> | null = null
  /** Reads overlapping [from, to) fail. */
  failReads: [number, number] | null = null
  readsStarted = 0
  flushes = 0

  constructor(readonly bytes: Uint8Array) {
    this.inner = memoryDisk(bytes)
  }

  get size(): number {
    return this.inner.size
  }

  async open(): Promise<void> {}

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.readsStarted++
    if (this.gate !== null) await this.gate
    const fail = this.failReads
    if (fail !== null && offset < fail[1] && offset + into.length > fail[0]) throw new Error(`injected read failure at ${offset}`)
    await this.inner.read(offset, into)
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    return this.inner.write(offset, bytes)
  }

  async flush(): Promise<void> {
    this.flushes++
  }

  async close(): Promise<void> {}
}

describe('the device', () => {
  it('has the backend\'s size and serial, and 64-bit sectors reach past 4 GiB of a sparse 8 GiB image', async () => {
    const image = path.join(work, 'sparse.img')
    await writeFile(image, '')
    await truncate(image, 8 * 1024 ** 3)
    const k = await startKernel({ disks: [fileDisk(image, { serial: 'sparse-8g' })] })
    try {
      const [disk] = k.disks
      expect(disk?.name).toBe('vda')
      expect(k.console()).toMatch(/\[vda\] 16777216 512-byte logical blocks/)
      await k.mountFs('sysfs', { target: '/sys' })
      expect(await readKernelFile(k, '/sys/block/vda/size')).toBe('16777216\n')
      expect(await readKernelFile(k, '/sys/block/vda/serial')).toBe('sparse-8g')
      expect(await readKernelFile(k, '/sys/block/vda/ro')).toBe('0\n')
      // Beyond 4 GiB, 2^32 + 3 sectors in: a 32-bit sector number would land near the start.
      const offset = 6 * 1024 ** 3 + 1536
      const bytes = pattern(64 * 1024, 1)
      await writeDevice(k, '/dev/vda', offset, bytes)
      const host = await open(image, 'r')
      try {
        const back = new Uint8Array(bytes.length)
        await host.read(back, 0, back.length, offset)
        expect(sha(back)).toBe(sha(bytes))
        const start = new Uint8Array(bytes.length)
        await host.read(start, 0, start.length, offset % 2 ** 32)
        expect(start.every((b) => b === 0)).toBe(true)
      } finally {
        await host.close()
      }
    } finally {
      await k.halt()
    }
  })

  it('requests complete asynchronously: other syscalls run while the backend holds a read', async () => {
    const disk = new ControlledDisk(pattern(4 * 1024 * 1024, 2))
    const k = await startKernel({ disks: [disk] })
    try {
      let open: () => void = () => undefined
      disk.gate = new Promise((resolve) => { open = resolve })
      const before = disk.readsStarted
      const reading = readDevice(k, '/dev/vda', 3 * 1024 * 1024, 8192)
      let settled = false
      void reading.then(() => { settled = true })
      for (let waited = 0; disk.readsStarted === before; waited++) {
        if (waited > 5000) throw new Error('the read never reached the backend')
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
      // The kernel waits for the host: no deadlock, and another caller is served meanwhile.
      expect(await k.sys.getpid()).toBe(1)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(settled).toBe(false)
      expect(k.stats().liveFibers).toBeGreaterThan(0)
      open()
      disk.gate = null
      expect(sha(await reading)).toBe(sha(disk.bytes.subarray(3 * 1024 * 1024, 3 * 1024 * 1024 + 8192)))
    } finally {
      await k.halt()
    }
  })

  it('a failing backend read is EIO to the caller, counted, and the kernel goes on', async () => {
    const disk = new ControlledDisk(pattern(4 * 1024 * 1024, 3))
    const k = await startKernel({ disks: [disk] })
    try {
      disk.failReads = [2 * 1024 * 1024, 2 * 1024 * 1024 + 4096]
      const failed = await readDevice(k, '/dev/vda', 2 * 1024 * 1024, 4096).catch((error: unknown) => error)
      expect(failed).toBeInstanceOf(LinuxError)
      expect(failed).toMatchObject({ code: 'EIO' })
      expect(k.disks[0]?.stats.errors).toBeGreaterThan(0)
      expect(k.disks[0]?.stats.lastError?.message).toMatch(/injected read failure/)
      expect(k.console()).toMatch(/I\/O error, dev vda, sector 4096/)
      disk.failReads = null
      expect(await k.sys.getpid()).toBe(1)
      const good = await readDevice(k, '/dev/vda', 1024 * 1024, 4096)
      expect(sha(good)).toBe(sha(disk.bytes.subarray(1024 * 1024, 1024 * 1024 + 4096)))
    } finally {
      await k.halt()
    }
  })

  it('a backend that never answers: boot goes on, the caller gets EIO after diskTimeoutMs, the late answers are dropped', async () => {
    const disk = new ControlledDisk(pattern(4 * 1024 * 1024, 4))
    let open: () => void = () => undefined
    // Held from the start: the kernel's partition scan at boot waits on it too.
    disk.gate = new Promise((resolve) => { open = resolve })
    const k = await startKernel({ disks: [disk], diskTimeoutMs: 300 })
    try {
      const failed = await readDevice(k, '/dev/vda', 2 * 1024 * 1024, 4096).catch((error: unknown) => error)
      expect(failed).toMatchObject({ code: 'EIO' })
      const stats = k.disks[0]?.stats
      expect(stats?.timeouts).toBeGreaterThanOrEqual(2)
      expect(stats?.lastError?.message).toMatch(/vda: the backend \(controlled\) did not answer a read request at sector \d+ within 300 ms/)
      expect(await k.sys.getpid()).toBe(1)
      // The held reads finish now; their bytes must not land in buffers the kernel has reused.
      open()
      disk.gate = null
      const good = await readDevice(k, '/dev/vda', 1024 * 1024, 8192)
      expect(sha(good)).toBe(sha(disk.bytes.subarray(1024 * 1024, 1024 * 1024 + 8192)))
    } finally {
      await k.halt()
    }
  })

  it('fsync reaches the backend as a flush', async () => {
    const disk = new ControlledDisk(new Uint8Array(1024 * 1024))
    const k = await startKernel({ disks: [disk] })
    try {
      const flushes = disk.flushes
      await writeDevice(k, '/dev/vda', 4096, pattern(4096, 4))
      expect(disk.flushes).toBeGreaterThan(flushes)
      expect(sha(disk.bytes.subarray(4096, 8192))).toBe(sha(pattern(4096, 4)))
    } finally {
      await k.halt()
    }
  })
})

describe('backends', () => {
  it('a read-only file disk is read-only to the kernel, and its file is untouched', async () => {
    const image = path.join(work, 'ro.img')
    await makeExt4(image, { sizeMiB: 8 })
    const before = sha(await readFile(image))
    const k = await startKernel({ disks: [fileDisk(image, { readOnly: true })] })
    try {
      await k.mountFs('sysfs', { target: '/sys' })
      expect(await readKernelFile(k, '/sys/block/vda/ro')).toBe('1\n')
      const where = await k.mount(k.disks[0] ?? expect.fail('no disk'))
      await expect(writeKernelFile(k, `${where}/new`, 'x')).rejects.toMatchObject({ code: 'EROFS' })
      await expect(writeDevice(k, '/dev/vda', 0, new Uint8Array(512))).rejects.toMatchObject({ code: 'EPERM' })
    } finally {
      await k.halt()
    }
    expect(sha(await readFile(image))).toBe(before)
  })

  it('an overlay takes writes and never writes its base', async () => {
    const image = path.join(work, 'base.img')
    await makeExt4(image, { sizeMiB: 8 })
    const before = sha(await readFile(image))
    const overlay = overlayDisk(fileDisk(image, { readOnly: true }))
    const k = await startKernel({ disks: [overlay] })
    try {
      const where = await k.mount(k.disks[0] ?? expect.fail('no disk'))
      await writeKernelFile(k, `${where}/hello`, 'through the overlay')
      await k.umount(where)
      await k.mount(k.disks[0] ?? expect.fail('no disk'))
      expect(await readKernelFile(k, `${where}/hello`)).toBe('through the overlay')
      expect(overlay.overlayBytes).toBeGreaterThan(0)
    } finally {
      await k.halt()
    }
    expect(sha(await readFile(image))).toBe(before)
  })

  it('a memory disk\'s writes land in its bytes', async () => {
    const bytes = new Uint8Array(1024 * 1024)
    const k = await startKernel({ disks: [memoryDisk(bytes)] })
    try {
      await writeDevice(k, '/dev/vda', 65536, pattern(8192, 5))
    } finally {
      await k.halt()
    }
    expect(sha(bytes.subarray(65536, 65536 + 8192))).toBe(sha(pattern(8192, 5)))
  })

  it('one writer per image: a second kernel is refused until the first halts', async () => {
    const image = path.join(work, 'locked.img')
    await makeExt4(image, { sizeMiB: 8 })
    const first = await startKernel({ disks: [fileDisk(image)] })
    try {
      const second = await startKernel({ disks: [fileDisk(image)] }).catch((error: unknown) => error)
      expect(second).toBeInstanceOf(ImageLockedError)
      expect(second).toMatchObject({ code: 'EBUSY' })
      const reader = await startKernel({ disks: [fileDisk(image, { readOnly: true })] }).catch((error: unknown) => error)
      expect(reader).toBeInstanceOf(ImageLockedError)
    } finally {
      await first.halt()
    }
    const third = await startKernel({ disks: [fileDisk(image)] })
    await third.halt()
  })
})

describe('mounting', () => {
  it('writes through an ext4 image are on the host file after halt, and e2fsck finds it clean without an umount', async () => {
    const image = path.join(work, 'write.img')
    await makeExt4(image, { sizeMiB: 16 })
    const k = await startKernel({ disks: [fileDisk(image)] })
    const where = await k.mount(k.disks[0] ?? expect.fail('no disk'))
    expect(where).toBe('/mnt/vda')
    await writeKernelFile(k, `${where}/note.txt`, 'written by the kernel\n')
    // halt() unmounts: the journal is clean with no remount trick.
    await k.halt()
    const check = await fsck(image, 'ext4')
    expect(check.output).toMatch(/clean|files/)
    expect(check.clean).toBe(true)
  })

  it('partitions of MBR and GPT disks mount by number, each with its own detected type', async () => {
    for (const table of ['mbr', 'gpt'] as const) {
      const image = path.join(work, `${table}.img`)
      await partitioned(image, {
        table,
        partitions: [
          { sizeMiB: 8, fill: (part, sizeMiB) => makeExt4(part, { sizeMiB }) },
          { sizeMiB: 8, fill: (part, sizeMiB) => makeVfat(part, { sizeMiB }) },
        ],
      })
      const k = await startKernel({ disks: [fileDisk(image)] })
      try {
        const disk = k.disks[0] ?? expect.fail('no disk')
        const first = await k.mount(disk, { partition: 1 })
        const second = await k.mount(disk, { partition: 2 })
        expect([first, second]).toEqual(['/mnt/vda1', '/mnt/vda2'])
        const mounts = await readKernelFile(k, '/proc/self/mounts').catch(async () => {
          await k.mountFs('proc', { target: '/proc' })
          return readKernelFile(k, '/proc/self/mounts')
        })
        expect(mounts).toMatch(/\/dev\/vda1 \/mnt\/vda1 ext4 rw/)
        expect(mounts).toMatch(/\/dev\/vda2 \/mnt\/vda2 vfat rw/)
        await writeKernelFile(k, `${second}/DOS.TXT`, `on the ${table} disk`)
        await expect(k.mount(disk, { partition: 3 })).rejects.toThrow(/has no partition 3/)
      } finally {
        await k.halt()
      }
    }
  })

  it('a disk with no filesystem is refused with a clear error; given fstype, the kernel\'s own error', async () => {
    const k = await startKernel({ disks: [memoryDisk(1024 * 1024)] })
    try {
      const disk = k.disks[0] ?? expect.fail('no disk')
      await expect(k.mount(disk)).rejects.toThrow(/\/dev\/vda: no filesystem this kernel knows/)
      await expect(k.mount(disk, { fstype: 'ext4' })).rejects.toThrow(/mount \/dev\/vda \(ext4\) on \/mnt\/vda: EINVAL/)
      expect(await k.sys.getpid()).toBe(1)
    } finally {
      await k.halt()
    }
  })
})
