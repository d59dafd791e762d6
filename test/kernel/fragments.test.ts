// SPDX-License-Identifier: MIT
/**
 * fragments.test.ts - the kernel built with the btrfs, ipv6 and xfs config fragments
 * (build/with-btrfs-ipv6-xfs/, which the kernel project's global setup builds) on images
 * that Debian's btrfs-progs and xfsprogs made: each mounts with its type detected,
 * reads back exactly, takes writes through k.sys, and after halt the tools' own
 * checkers (`btrfs check --readonly`, `xfs_repair -n`) call it clean and their own
 * reader (`btrfs restore`) - or, for xfs, which has no such reader, a second boot on
 * a read-only disk - gives back exactly what was written. The expected trees are
 * made with node:fs on the host: the same writes, applied to a copy. And IPv6, which
 * the default image leaves out: there socket(AF_INET6) is EAFNOSUPPORT; the fragment
 * image echoes TCP over ::1 and connects two kernels on a
 * netSwitch by their fd00:: addresses once duplicate address detection is done.
 *
 * Limits: mkfs.xfs 6.1 has no --rootdir (only proto files), so the xfs image is
 * filled through the kernel; it needs a 320 MiB image (mkfs.xfs refuses less than
 * 300 MB), sparse on the host. One damaged xfs inode stands for the bad-input
 * cases: the point is that the fragment's __this_address patch keeps XFS's
 * verifiers able to say "corrupt".
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdir, mkdtemp, open, readFile, rename, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { netSwitch, nic } from '../../src/devices/net/backends.js'
import {
  type Kernel, type KernelImage, LinuxError, fileDisk, loadKernelImage, memoryDisk, startKernel,
} from '../../src/index.js'
import { type Manifest, manifestOf, seededTree, toolEnv } from '../support/images.js'
import { readAll, until } from '../support/streams.js'

/* The folder `npm run build:kernel -- --with btrfs,ipv6,xfs` publishes to (test/support/kernel-image.ts builds it). */
const IMAGE_DIR = new URL('../../build/with-btrfs-ipv6-xfs/', import.meta.url)
const MiB = 1024 * 1024

let work: string
let image: KernelImage
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'uklkl-fragments-'))
  image = await loadKernelImage(IMAGE_DIR)
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

interface ToolRun {
  status: number
  output: string
}

/** Run one of the oracles (they live in /usr/sbin too: toolEnv); resolves whatever its exit status. */
function tool(command: string, args: readonly string[]): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: toolEnv, maxBuffer: 16 * MiB }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`
      if (error === null) resolve({ status: 0, output })
      else if (typeof error.code === 'number') resolve({ status: error.code, output })
      else reject(error)
    })
  })
}

async function mustRun(command: string, args: readonly string[]): Promise<string> {
  const r = await tool(command, args)
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status}:\n${r.output}`)
  return r.output
}

/** A sparse file of exactly bytes. */
async function blank(file: string, bytes: number): Promise<void> {
  await writeFile(file, '')
  await truncate(file, bytes)
}

/** Seeded, incompressible bytes (btrfs and xfs store them as they are). */
function bytesOf(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/* d_type values of getdents64 (linux/fs_types.h). */
const DT_DIR = 4
const DT_REG = 8
const DT_LNK = 10

/** What the kernel sees under dir, in the shape of manifestOf: the oracle's own walk, done through k.sys. */
async function kernelManifest(k: Kernel, dir: string, ignore: readonly string[] = []): Promise<Manifest> {
  const { AT_FDCWD, O_RDONLY, O_DIRECTORY, AT_SYMLINK_NOFOLLOW } = k.constants
  const manifest: Manifest = {}
  const walk = async (relative: string): Promise<void> => {
    const fd = await k.sys.openat(AT_FDCWD, `${dir}/${relative}`, O_RDONLY | O_DIRECTORY, 0)
    const names: { name: string; type: number }[] = []
    try {
      const buf = new Uint8Array(8192)
      for (let n; (n = await k.sys.getdents64(fd, buf, buf.length)) > 0;) {
        for (let at = 0; at < n;) {
          const entry = k.decode('linux_dirent64', buf.subarray(0, n), at)
          const raw = entry.d_name as Uint8Array
          const name = new TextDecoder().decode(raw.subarray(0, raw.indexOf(0)))
          if (name !== '.' && name !== '..') names.push({ name, type: Number(entry.d_type) })
          at += Number(entry.d_reclen)
        }
      }
    } finally {
      await k.sys.close(fd)
    }
    for (const { name, type } of names) {
      const child = relative === '' ? name : `${relative}/${name}`
      if (ignore.includes(child)) continue
      const full = `${dir}/${child}`
      const st = k.buffer('stat64')
      await k.sys.fstatat64(AT_FDCWD, full, st, AT_SYMLINK_NOFOLLOW)
      const mode = Number(k.decode('stat64', st).st_mode) & 0o7777
      if (type === DT_DIR) {
        manifest[child] = { type: 'dir', mode }
        await walk(child)
      } else if (type === DT_REG) {
        const bytes = await readKernelFile(k, full)
        manifest[child] = { type: 'file', size: bytes.length, mode, sha256: sha256(bytes) }
      } else if (type === DT_LNK) {
        const buf = new Uint8Array(4096)
        const n = await k.sys.readlinkat(AT_FDCWD, full, buf, buf.length)
        manifest[child] = { type: 'symlink', target: new TextDecoder().decode(buf.subarray(0, n)) }
      } else {
        throw new Error(`${full}: d_type ${type}, and no fixture makes anything but files, directories and symlinks`)
      }
    }
  }
  await walk('')
  return Object.fromEntries(Object.entries(manifest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function readKernelFile(k: Kernel, file: string): Promise<Uint8Array> {
  const fd = await k.sys.openat(k.constants.AT_FDCWD, file, k.constants.O_RDONLY, 0)
  try {
    const chunks: Uint8Array[] = []
    for (;;) {
      const chunk = new Uint8Array(256 * 1024)
      const n = await k.sys.read(fd, chunk, chunk.length)
      if (n === 0) break
      chunks.push(chunk.subarray(0, n))
    }
    return Buffer.concat(chunks)
  } finally {
    await k.sys.close(fd)
  }
}

/** Write bytes into a new file through the kernel, in 64 KiB writes, and give it mode. */
async function writeKernelFile(k: Kernel, file: string, bytes: Uint8Array, mode: number): Promise<void> {
  const { AT_FDCWD, O_WRONLY, O_CREAT, O_EXCL } = k.constants
  const fd = await k.sys.openat(AT_FDCWD, file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
  try {
    for (let at = 0; at < bytes.length; at += 65536) {
      const part = bytes.subarray(at, at + 65536)
      expect(await k.sys.write(fd, part, part.length)).toBe(part.length)
    }
  } finally {
    await k.sys.close(fd)
  }
  // fchmodat, not openat's mode: the kernel's umask must not decide the mode.
  await k.sys.fchmodat(AT_FDCWD, file, mode)
}

/** The filesystem type /proc/self/mounts gives for a mount point. */
async function mountedType(k: Kernel, where: string): Promise<string | undefined> {
  await k.mountFs('proc', { target: '/proc' }).catch((error: unknown) => {
    if (!(error instanceof LinuxError && error.code === 'EBUSY')) throw error
  })
  const mounts = new TextDecoder().decode(await readKernelFile(k, '/proc/self/mounts'))
  return mounts.split('\n').map((line) => line.split(' ')).find((fields) => fields[1] === where)?.[2]
}

/** Files of a manifest, in path order, at least minBytes long. */
function filesOf(manifest: Manifest, minBytes: number): string[] {
  return Object.entries(manifest).filter(([, entry]) => entry.type === 'file' && entry.size >= minBytes).map(([where]) => where)
}

describe('btrfs (fragment btrfs)', () => {
  it('an image from mkfs.btrfs --rootdir reads back exactly; after writes and halt, btrfs check is clean and btrfs restore gives back what was written', async () => {
    const tree = path.join(work, 'btrfs-tree')
    seededTree(tree, { seed: 31, files: 60, totalBytes: 3 * MiB, dirs: 8 })
    await symlink('d0/../f00.bin', path.join(tree, 'link-to-f00'))
    // 0755: btrfs restore -m gives an empty directory that mode whatever it had.
    await mkdir(path.join(tree, 'empty-dir'), { mode: 0o755 })
    await writeFile(path.join(tree, 'empty-file'), '', { mode: 0o600 })
    const imageFile = path.join(work, 'btrfs.img')
    await blank(imageFile, 128 * MiB)
    await mustRun('mkfs.btrfs', ['-q', '--rootdir', tree, imageFile])
    const original = manifestOf(tree)

    // A memory disk: its bytes are the image, written in place.
    const bytes = new Uint8Array(await readFile(imageFile))
    const k = await startKernel({ image, disks: [memoryDisk(bytes)] })
    const expected = path.join(work, 'btrfs-expected')
    try {
      const where = await k.mount(k.disks[0] ?? expect.fail('no disk'))
      expect(await mountedType(k, where), 'the type found from the superblock').toBe('btrfs')
      expect(await kernelManifest(k, where), 'the kernel reads the image mkfs.btrfs made').toEqual(original)

      // The same changes, through the kernel and with node:fs on a copy of the tree.
      await cp(tree, expected, { recursive: true, verbatimSymlinks: true })
      const { AT_FDCWD, O_WRONLY } = k.constants
      await k.sys.mkdirat(AT_FDCWD, `${where}/new`, 0o755)
      await k.sys.mkdirat(AT_FDCWD, `${where}/new/sub`, 0o755)
      await mkdir(path.join(expected, 'new/sub'), { recursive: true })
      const big = bytesOf(7, 3 * MiB + 123)
      await writeKernelFile(k, `${where}/new/sub/big.bin`, big, 0o644)
      await writeFile(path.join(expected, 'new/sub/big.bin'), big, { mode: 0o644 })
      const small = new TextEncoder().encode('written by the btrfs fragment\n')
      await writeKernelFile(k, `${where}/new/small.txt`, small, 0o640)
      await writeFile(path.join(expected, 'new/small.txt'), small, { mode: 0o640 })

      // Four different files of the seeded tree: one patched in the middle, one cut short, one removed, one moved.
      const [patched, cut, removed, moved] = filesOf(original, 8192)
      if (patched === undefined || cut === undefined || removed === undefined || moved === undefined) {
        expect.fail('the seeded tree has fewer than four files of 8 KiB or more')
      }
      const patch = bytesOf(11, 4000)
      const fd = await k.sys.openat(AT_FDCWD, `${where}/${patched}`, O_WRONLY, 0)
      expect(await k.sys.pwrite64(fd, patch, patch.length, 4000n)).toBe(patch.length)
      await k.sys.close(fd)
      const handle = await open(path.join(expected, patched), 'r+')
      await handle.write(patch, 0, patch.length, 4000)
      await handle.close()
      await k.sys.truncate64(`${where}/${cut}`, 1234)
      await truncate(path.join(expected, cut), 1234)
      await k.sys.unlinkat(AT_FDCWD, `${where}/${removed}`, 0)
      await unlink(path.join(expected, removed))
      await k.sys.renameat2(AT_FDCWD, `${where}/${moved}`, AT_FDCWD, `${where}/new/moved.bin`, 0)
      await rename(path.join(expected, moved), path.join(expected, 'new/moved.bin'))
      await k.sys.symlinkat('sub/big.bin', AT_FDCWD, `${where}/new/link`)
      await symlink('sub/big.bin', path.join(expected, 'new/link'))

      expect(await kernelManifest(k, where), 'the kernel sees its own writes').toEqual(manifestOf(expected))
    } finally {
      // halt unmounts: the image is complete and consistent only after this.
      await k.halt()
    }
    await writeFile(imageFile, bytes)

    const check = await tool('btrfs', ['check', '--readonly', imageFile])
    expect(check.output, 'btrfs check --readonly').toMatch(/no error found/)
    expect(check.status, check.output).toBe(0)
    const restored = path.join(work, 'btrfs-restored')
    await mkdir(restored)
    // -m: modes, owners and times too; -S: symlinks.
    await mustRun('btrfs', ['restore', '-m', '-S', imageFile, restored])
    expect(manifestOf(restored), 'btrfs restore gives back what the kernel wrote').toEqual(manifestOf(expected))
  })
})

/**
 * A fresh xfs image (mkfs.xfs, 320 MiB sparse), filled through the kernel with the
 * tree under from; resolves with the inode number of each file. Checks on the way
 * that the type is detected and that the kernel reads its own writes.
 */
async function filledXfs(imageFile: string, from: string, manifest: Manifest): Promise<Map<string, bigint>> {
  await blank(imageFile, 320 * MiB)
  await mustRun('mkfs.xfs', ['-q', imageFile])
  const inodes = new Map<string, bigint>()
  const k = await startKernel({ image, disks: [fileDisk(imageFile)] })
  try {
    const where = await k.mount(k.disks[0] ?? expect.fail('no disk'))
    expect(await mountedType(k, where), 'the type found from the superblock').toBe('xfs')
    expect(await kernelManifest(k, where), 'a fresh xfs is empty').toEqual({})
    const { AT_FDCWD } = k.constants
    for (const [relative, entry] of Object.entries(manifest)) {
      const target = `${where}/${relative}`
      if (entry.type === 'dir') {
        await k.sys.mkdirat(AT_FDCWD, target, 0o700)
        await k.sys.fchmodat(AT_FDCWD, target, entry.mode)
      } else if (entry.type === 'file') {
        await writeKernelFile(k, target, await readFile(path.join(from, relative)), entry.mode)
        const st = k.buffer('stat64')
        await k.sys.fstatat64(AT_FDCWD, target, st, 0)
        inodes.set(relative, BigInt(k.decode('stat64', st).st_ino))
      } else {
        await k.sys.symlinkat(entry.target, AT_FDCWD, target)
      }
    }
    expect(await kernelManifest(k, where), 'the kernel sees its own writes').toEqual(manifest)
  } finally {
    // halt unmounts: the log is clean only after this.
    await k.halt()
  }
  return inodes
}

/** xfs_repair -n -f: its exit status is 0 only when it found nothing to repair. */
async function expectXfsClean(imageFile: string): Promise<void> {
  const repair = await tool('xfs_repair', ['-n', '-f', imageFile])
  expect(repair.status, `xfs_repair -n -f: ${repair.output}`).toBe(0)
}

describe('xfs (fragment xfs)', () => {
  it('an image from mkfs.xfs, filled through the kernel: xfs_repair -n calls it clean after halt, and a second boot reads back exactly what was written', async () => {
    const tree = path.join(work, 'xfs-tree')
    seededTree(tree, { seed: 47, files: 80, totalBytes: 4 * MiB, dirs: 10 })
    await symlink('f00.bin', path.join(tree, 'link-to-f00'))
    await writeFile(path.join(tree, 'big.bin'), bytesOf(5, 5 * MiB + 7), { mode: 0o600 })
    const manifest = manifestOf(tree)
    const imageFile = path.join(work, 'xfs.img')
    await filledXfs(imageFile, tree, manifest)
    await expectXfsClean(imageFile)

    const k = await startKernel({ image, disks: [fileDisk(imageFile, { readOnly: true })] })
    try {
      const where = await k.mount(k.disks[0] ?? expect.fail('no disk'))
      expect(await kernelManifest(k, where), 'what the first boot wrote, from the disk this time').toEqual(manifest)
    } finally {
      await k.halt()
    }
  })

  it('a file whose inode was damaged on disk fails with EUCLEAN; the rest of the image still reads', async () => {
    const tree = path.join(work, 'xfs-small-tree')
    const manifest = seededTree(tree, { seed: 53, files: 6, totalBytes: 60 * 1024, dirs: 1 })
    const imageFile = path.join(work, 'xfs-damaged.img')
    const inodes = await filledXfs(imageFile, tree, manifest)
    await expectXfsClean(imageFile)
    const [victim, ino] = [...inodes][0] ?? expect.fail('no file written')
    // xfs_db names the inode's byte offset in the image, e.g. "0x1b5c00 (1793024)".
    const said = await mustRun('xfs_db', ['-r', '-c', `convert inode ${ino} byte`, imageFile])
    const offset = Number(/\((\d+)\)/.exec(said)?.[1] ?? expect.fail(`xfs_db convert said ${said}`))
    // The top bit of di_size (offset 56 in the inode core, big-endian): the inode's CRC no
    // longer matches and its size is one no inode may have. Only xfs_dinode_verify, whose
    // failures are __this_address values, looks at either.
    const handle = await open(imageFile, 'r+')
    await handle.write(Uint8Array.of(0x80), 0, 1, offset + 56)
    await handle.close()

    const k = await startKernel({ image, disks: [fileDisk(imageFile, { readOnly: true })] })
    try {
      const where = await k.mount(k.disks[0] ?? expect.fail('no disk'))
      const error = await k.sys.openat(k.constants.AT_FDCWD, `${where}/${victim}`, k.constants.O_RDONLY, 0).catch((e: unknown) => e)
      expect(error, 'opening the damaged inode').toBeInstanceOf(LinuxError)
      expect((error as LinuxError).code).toBe('EUCLEAN')
      expect(k.console()).toMatch(/Metadata corruption detected/)
      const others = Object.fromEntries(Object.entries(manifest).filter(([where]) => where !== victim))
      expect(await kernelManifest(k, where, [victim]), 'the other files are intact').toEqual(others)
    } finally {
      await k.halt()
    }
  })
})

describe('IPv6 (fragment ipv6)', () => {
  it('the default image has none: socket(AF_INET6) is EAFNOSUPPORT, AF_INET works', async () => {
    const k = await startKernel()
    try {
      const { AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM } = k.constants
      for (const type of [SOCK_STREAM, SOCK_DGRAM]) {
        await expect(k.sys.socket(AF_INET6, type, 0)).rejects.toMatchObject({ code: 'EAFNOSUPPORT', syscall: 'socket' })
      }
      await k.sys.close(await k.sys.socket(AF_INET, SOCK_STREAM, 0))
    } finally {
      await k.halt()
    }
  })

  it('::1 over loopback: 256 KiB through a TCP echo, both ends knowing their IPv6 addresses', async () => {
    const k = await startKernel({ image })
    try {
      await k.net.up('lo')
      const seen: { remote: string | undefined, family: string | undefined }[] = []
      const server = k.net.createServer((socket) => {
        seen.push({ remote: socket.remoteAddress, family: socket.remoteFamily })
        socket.pipe(socket)
      })
      const { port } = await server.listen({ host: '::1' })
      const client = k.net.connect({ host: '::1', port })
      const payload = bytesOf(61, 256 * 1024)
      client.end(payload)
      expect(sha256(await readAll(client))).toBe(sha256(payload))
      expect(seen).toEqual([{ remote: '::1', family: 'IPv6' }])
      expect({ local: client.localAddress, remote: client.remoteAddress, family: client.remoteFamily })
        .toEqual({ local: '::1', remote: '::1', family: 'IPv6' })
      await server.close()
    } finally {
      await k.halt()
    }
  })

  it('two kernels on a netSwitch: a connection from fd00::1 to fd00::2, its addresses known at connection time', async () => {
    const sw = netSwitch()
    const [a, b] = await Promise.all([
      startKernel({ image, nics: [nic(sw, { mac: '02:00:00:00:6a:01' })] }),
      startKernel({ image, nics: [nic(sw, { mac: '02:00:00:00:6b:01' })] }),
    ])
    try {
      for (const [k, address] of [[a, 'fd00::1/64'], [b, 'fd00::2/64']] as const) {
        const [eth] = k.net.nics
        if (eth === undefined) throw new Error('no NIC')
        await k.net.up(eth)
        await k.net.addAddress(eth, address)
        await k.mountFs('proc', { target: '/proc' })
        // Duplicate address detection: usable once the kernel no longer lists it tentative (IFA_F_TENTATIVE, 0x40).
        await until(async () => {
          const line = new TextDecoder().decode(await readKernelFile(k, '/proc/net/if_inet6')).split('\n').find((l) => l.startsWith('fd00'))
          return line !== undefined && (Number.parseInt(line.split(/\s+/)[4] ?? '0', 16) & 0x40) === 0
        })
      }
      const seen: { remote: string | undefined, family: string | undefined }[] = []
      const server = b.net.createServer((socket) => {
        seen.push({ remote: socket.remoteAddress, family: socket.remoteFamily })
        socket.end('six')
      })
      await server.listen({ port: 6000, host: '::' })
      const client = a.net.connect({ host: 'fd00::2', port: 6000 })
      expect((await readAll(client)).toString()).toBe('six')
      expect(seen).toEqual([{ remote: 'fd00::1', family: 'IPv6' }])
      expect({ local: client.localAddress, remote: client.remoteAddress }).toEqual({ local: 'fd00::1', remote: 'fd00::2' })
      await server.close()
    } finally {
      await Promise.all([a.halt(), b.halt()])
    }
  })
})
