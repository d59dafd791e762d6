// SPDX-License-Identifier: MIT
// k.fs (src/fs/) against node:fs/promises on the host: every function, its results and its errors
// (code, errno, syscall, path, dest, message) side by side with Node's on a host directory, fast-check
// sequences of calls compared step by step (test/support/fs-oracle.ts), the FileHandle, bigint stats,
// 40 MiB files through the 16 MiB user arena, and the root option.
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync } from 'node:fs'
import * as nodeFs from 'node:fs/promises'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Kernel, LinuxError, startKernel } from '../../src/index.js'
import { BigIntStats, Dirent, FsError, type KernelFs, Stats, kernelFs } from '../../src/fs/index.js'
import { hostScratch, hostUmask, isTmpfs } from '../support/fs-differential.js'
import {
  type FsApi, type FsCall, Side, compare, errorView, fsCalls, hostRoot, removeHostRoot,
} from '../support/fs-oracle.js'

const SEEDS = [1, 2, 3]
const RUNS_PER_SEED = 40
const CHECK_SEED = 1

let k: Kernel
let fs: KernelFs
let compareDirSizes: boolean
let cases = 0

beforeAll(async () => {
  // Room for the 40 MiB files (tmpfs keeps them in the kernel's RAM) beside everything else.
  k = await startKernel({ memoryMiB: 128 })
  await k.sys.umask(hostUmask())
  await k.mountFs('tmpfs', { target: '/t' })
  fs = kernelFs(k)
  const statfs = k.buffer('statfs64')
  await k.sys.statfs64('/t', statfs.length, statfs)
  compareDirSizes = isTmpfs(hostScratch()) && Number(k.decode('statfs64', statfs).f_type) === k.constants.TMPFS_MAGIC
})

afterAll(async () => {
  await k.halt()
})

/** A fresh kernel directory for one case. */
async function kdir(): Promise<string> {
  const dir = `/t/case-${++cases}`
  await k.sys.mkdirat(k.constants.AT_FDCWD, dir, 0o755)
  return dir
}

/** A fresh host directory for one case, removed after fn. */
async function withHostDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const [parent, dir] = hostRoot(hostScratch())
  mkdirSync(dir)
  chmodSync(dir, 0o755)
  try {
    return await fn(dir)
  } finally {
    removeHostRoot(parent)
  }
}

/** What fn does on the host (in a host dir) and on k.fs (in a kernel dir): results or error views, dirs cut out. */
async function both(fn: (api: FsApi, dir: string) => Promise<unknown>): Promise<{ host: unknown, kernel: unknown }> {
  const outcome = async (api: FsApi, dir: string): Promise<unknown> => {
    try {
      const result = await fn(api, dir)
      return { ok: typeof result === 'string' ? result.split(dir).join('<dir>') : result }
    } catch (error) {
      const view = errorView(error, dir)
      if (view === null) throw error
      return { error: view, isError: error instanceof Error }
    }
  }
  const host = await withHostDir((dir) => outcome(nodeFs, dir))
  const kernel = await outcome(fs, await kdir())
  return { host, kernel }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

describe('k.fs: whole files', () => {
  it('writeFile, readFile and appendFile: strings, encodings, bytes, flags and modes', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/a`, 'héllo')
    expect(await fs.readFile(`${dir}/a`, 'utf8')).toBe('héllo')
    expect(await fs.readFile(`${dir}/a`, { encoding: 'latin1' })).toBe(Buffer.from('héllo').toString('latin1'))
    const bytes = await fs.readFile(`${dir}/a`)
    expect(Buffer.isBuffer(bytes)).toBe(true)
    expect([...bytes]).toEqual([...Buffer.from('héllo')])
    await fs.appendFile(`${dir}/a`, new Uint8Array([1, 2, 3]))
    expect([...await fs.readFile(`${dir}/a`)].slice(-3)).toEqual([1, 2, 3])
    await fs.writeFile(`${dir}/b`, 'aGk=', { encoding: 'base64', mode: 0o640 })
    expect(await fs.readFile(`${dir}/b`, 'utf8')).toBe('hi')
    expect((await fs.stat(`${dir}/b`)).mode & 0o777).toBe(0o640 & ~hostUmask())
    await expect(fs.writeFile(`${dir}/b`, 'x', { flag: 'wx' })).rejects.toMatchObject({ code: 'EEXIST', syscall: 'open' })
    await fs.writeFile(`${dir}/b`, 'HI', { flag: 'r+' })
    expect(await fs.readFile(`${dir}/b`, 'utf8')).toBe('HI')
    await fs.writeFile(`${dir}/b`, '!', { flag: 'a' })
    expect(await fs.readFile(`${dir}/b`, 'utf8')).toBe('HI!')
    // Numeric flags are the kernel's O_* values.
    const C = k.constants
    await fs.writeFile(`${dir}/c`, 'num', { flag: C.O_WRONLY | C.O_CREAT | C.O_EXCL })
    expect(await fs.readFile(`${dir}/c`, { encoding: 'utf8', flag: C.O_RDONLY })).toBe('num')
    await expect(fs.readFile(`${dir}/c`, { flag: 'q' })).rejects.toThrow(TypeError)
    await expect(fs.readFile(`${dir}/c\0x`)).rejects.toThrow(TypeError)
  })

  it('a 40 MiB file goes through the 16 MiB user arena both ways, byte for byte', async () => {
    const dir = await kdir()
    const data = randomBytes(40 * 1024 * 1024)
    await fs.writeFile(`${dir}/big`, data)
    expect((await fs.stat(`${dir}/big`)).size).toBe(data.length)
    const back = await fs.readFile(`${dir}/big`)
    expect(back.length).toBe(data.length)
    expect(sha256(back)).toBe(sha256(data))
    // A positioned read past 32 MiB, through a handle.
    const handle = await fs.open(`${dir}/big`)
    const tail = new Uint8Array(3 * 1024 * 1024)
    const { bytesRead } = await handle.read(tail, 0, tail.length, 38 * 1024 * 1024)
    await handle.close()
    expect(bytesRead).toBe(2 * 1024 * 1024)
    expect(sha256(tail.subarray(0, bytesRead))).toBe(sha256(data.subarray(38 * 1024 * 1024)))
    await fs.unlink(`${dir}/big`)
  })

  it('a sparse file beyond 4 GiB: positions, sizes and truncation past 32 bits', async () => {
    const dir = await kdir()
    const far = 5 * 2 ** 30 + 123
    const handle = await fs.open(`${dir}/sparse`, 'w+')
    expect((await handle.write(Buffer.from('far away'), 0, 8, far)).bytesWritten).toBe(8)
    expect((await handle.stat()).size).toBe(far + 8)
    expect((await handle.stat({ bigint: true })).size).toBe(BigInt(far + 8))
    const back = Buffer.alloc(8)
    expect((await handle.read(back, 0, 8, BigInt(far))).bytesRead).toBe(8)
    expect(back.toString()).toBe('far away')
    await handle.truncate(3 * 2 ** 30)
    await handle.close()
    expect((await fs.stat(`${dir}/sparse`)).size).toBe(3 * 2 ** 30)
    await fs.truncate(`${dir}/sparse`, 6 * 2 ** 30)
    expect((await fs.stat(`${dir}/sparse`)).size).toBe(6 * 2 ** 30)
    await fs.appendFile(`${dir}/sparse`, 'end')
    const tail = await fs.open(`${dir}/sparse`)
    const end = Buffer.alloc(3)
    await tail.read(end, 0, 3, 6 * 2 ** 30)
    await tail.close()
    expect(end.toString()).toBe('end')
    await fs.unlink(`${dir}/sparse`)
  })

  it('many readFiles at once wait for room in the arena instead of failing', async () => {
    const dir = await kdir()
    const data = randomBytes(2 * 1024 * 1024)
    // 20 × 2 MiB: more than the 16 MiB arena if every read were staged at once.
    const names = Array.from({ length: 20 }, (_, i) => `${dir}/f${i}`)
    await Promise.all(names.map((name) => fs.writeFile(name, data)))
    const back = await Promise.all(names.map((name) => fs.readFile(name)))
    for (const b of back) expect(sha256(b)).toBe(sha256(data))
    await fs.rm(dir, { recursive: true })
  })

  it('copyFile copies data and mode, honours COPYFILE_EXCL, leaves a file copied onto itself alone', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/src`, 'copy me', { mode: 0o751 })
    await fs.copyFile(`${dir}/src`, `${dir}/dst`)
    expect(await fs.readFile(`${dir}/dst`, 'utf8')).toBe('copy me')
    expect((await fs.stat(`${dir}/dst`)).mode & 0o777).toBe((await fs.stat(`${dir}/src`)).mode & 0o777)
    await fs.writeFile(`${dir}/dst`, 'a longer older content')
    await fs.copyFile(`${dir}/src`, `${dir}/dst`)
    expect(await fs.readFile(`${dir}/dst`, 'utf8')).toBe('copy me')
    await expect(fs.copyFile(`${dir}/src`, `${dir}/dst`, fs.constants.COPYFILE_EXCL))
      .rejects.toMatchObject({ code: 'EEXIST', syscall: 'copyfile', path: `${dir}/src`, dest: `${dir}/dst` })
    await fs.copyFile(`${dir}/src`, `${dir}/src`)
    expect(await fs.readFile(`${dir}/src`, 'utf8')).toBe('copy me')
    await expect(fs.copyFile(`${dir}/src`, `${dir}/x`, fs.constants.COPYFILE_FICLONE_FORCE)).rejects.toMatchObject({ code: 'ENOTSUP' })
    // A directory as the source: EISDIR, and no destination left behind (libuv removes it).
    await expect(fs.copyFile(dir, `${dir}/y`)).rejects.toMatchObject({ code: 'EISDIR', syscall: 'copyfile' })
    expect(await fs.readdir(dir)).toEqual(['dst', 'src'])
  })

  it('truncate shortens and extends with zeros', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/f`, 'abcdef')
    await fs.truncate(`${dir}/f`, 2)
    expect(await fs.readFile(`${dir}/f`, 'utf8')).toBe('ab')
    await fs.truncate(`${dir}/f`, 4)
    expect([...await fs.readFile(`${dir}/f`)]).toEqual([97, 98, 0, 0])
    await fs.truncate(`${dir}/f`)
    expect((await fs.stat(`${dir}/f`)).size).toBe(0)
  })
})

describe('k.fs: directories', () => {
  it('mkdir: EEXIST without recursive; with it, the first directory made, spelled as Node spells it', async () => {
    const shapes = ['n1/n2', 'x/../y/z', 'q//r/', 's/t/.', 'dir', 'f', 'f/x/y', 'dir/a/b', 'dangling/x/y', 'dir/f/z']
    for (const shape of shapes) {
      const { host, kernel } = await both(async (api, dir) => {
        await api.mkdir(`${dir}/dir`, { recursive: false, mode: 0o755 })
        await api.writeFile(`${dir}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
        await api.writeFile(`${dir}/dir/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
        await api.symlink('nowhere', `${dir}/dangling`)
        return api.mkdir(`${dir}/${shape}`, { recursive: true, mode: 0o755 })
      })
      expect(kernel, shape).toEqual(host)
    }
    const dir = await kdir()
    expect(await fs.mkdir(`${dir}/a/b/c`, { recursive: true })).toBe(`${dir}/a`)
    expect(await fs.mkdir(`${dir}/a/b/c`, { recursive: true })).toBeUndefined()
    expect(await fs.mkdir(`${dir}/m`, 0o700)).toBeUndefined()
    expect((await fs.stat(`${dir}/m`)).mode & 0o777).toBe(0o700 & ~hostUmask())
    await expect(fs.mkdir(`${dir}/a`)).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkdir', path: `${dir}/a` })
  })

  it('readdir lists in Node\'s order, with Dirents of each type', async () => {
    const names = ['c', 'a', 'B', 'b', 'zz', 'é', '_', '😀', 'ﬀ']
    const { host, kernel } = await both(async (api, dir) => {
      for (const name of names) await api.writeFile(`${dir}/${name}`, new Uint8Array(0), { flag: 'w', mode: 0o644 })
      await api.mkdir(`${dir}/sub`, { recursive: false, mode: 0o755 })
      await api.symlink('sub', `${dir}/link`)
      return [await api.readdir(dir), (await api.readdir(dir, { withFileTypes: true })).map((d) =>
        [d.name, d.isFile(), d.isDirectory(), d.isSymbolicLink(), d.parentPath.split(dir).join('<dir>')])]
    })
    expect(kernel).toEqual(host)
    const dir = await kdir()
    await fs.mkdir(`${dir}/d`)
    const [dirent] = await fs.readdir(dir, { withFileTypes: true })
    expect(dirent).toBeInstanceOf(Dirent)
    expect(dirent).toMatchObject({ name: 'd', parentPath: dir, path: dir })
    expect([dirent?.isDirectory(), dirent?.isFile(), dirent?.isSymbolicLink(), dirent?.isFIFO(), dirent?.isSocket(),
      dirent?.isBlockDevice(), dirent?.isCharacterDevice()]).toEqual([true, false, false, false, false, false, false])
  })

  it('readdir of a directory larger than one getdents buffer lists every entry', async () => {
    const dir = await kdir()
    const names = Array.from({ length: 1500 }, (_, i) => `entry-with-a-long-name-${String(i).padStart(5, '0')}`)
    for (const name of names) await fs.writeFile(`${dir}/${name}`, '')
    expect(await fs.readdir(dir)).toEqual(names)
    await fs.rm(dir, { recursive: true })
  })

  it('rm: files, trees with recursive, force for what is missing, symlinks removed and not followed', async () => {
    const dir = await kdir()
    await fs.mkdir(`${dir}/tree/a/b`, { recursive: true })
    await fs.writeFile(`${dir}/tree/a/b/f`, 'x')
    await fs.writeFile(`${dir}/tree/g`, 'y')
    await fs.mkdir(`${dir}/keep`)
    await fs.writeFile(`${dir}/keep/k`, 'keep')
    await fs.symlink('../keep', `${dir}/tree/a/to-keep`)
    await expect(fs.rm(`${dir}/tree`)).rejects.toMatchObject({ code: 'ERR_FS_EISDIR', syscall: 'rm', errno: 21 })
    await fs.rm(`${dir}/tree`, { recursive: true })
    expect(await fs.readdir(dir)).toEqual(['keep'])
    expect(await fs.readFile(`${dir}/keep/k`, 'utf8')).toBe('keep')
    await expect(fs.rm(`${dir}/nope`)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'lstat' })
    await fs.rm(`${dir}/nope`, { force: true })
    await fs.writeFile(`${dir}/file`, '')
    // force forgives only what does not exist.
    await expect(fs.rm(`${dir}/file/x`, { force: true })).rejects.toMatchObject({ code: 'ENOTDIR' })
    await fs.rm(`${dir}/file`)
    await fs.symlink('keep', `${dir}/l`)
    await fs.rm(`${dir}/l`, { recursive: true })
    expect(await fs.readdir(dir)).toEqual(['keep'])
    expect(await fs.readdir(`${dir}/keep`)).toEqual(['k'])
  })

  it('rm of a symlink to a directory named with a trailing slash does what Node does', async () => {
    const { host, kernel } = await both(async (api, dir) => {
      await api.mkdir(`${dir}/d`, { recursive: false, mode: 0o755 })
      await api.writeFile(`${dir}/d/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      await api.symlink('d', `${dir}/l`)
      await api.rm(`${dir}/l/`, { recursive: true, force: false })
      return [await api.readdir(dir), await api.readdir(`${dir}/d`)]
    })
    expect(kernel).toEqual(host)
  })

  it('rmdir, unlink and rename', async () => {
    const dir = await kdir()
    await fs.mkdir(`${dir}/d`)
    await fs.writeFile(`${dir}/f`, 'f')
    await fs.rename(`${dir}/f`, `${dir}/d/g`)
    expect(await fs.readdir(`${dir}/d`)).toEqual(['g'])
    await expect(fs.rmdir(`${dir}/d`)).rejects.toMatchObject({ code: 'ENOTEMPTY', syscall: 'rmdir' })
    await fs.unlink(`${dir}/d/g`)
    await fs.rmdir(`${dir}/d`)
    expect(await fs.readdir(dir)).toEqual([])
  })
})

describe('k.fs: inodes and links', () => {
  it('stat and lstat give Stats like Node\'s; bigint gives BigIntStats', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/f`, 'twelve bytes', { mode: 0o604 })
    await fs.symlink('f', `${dir}/l`)
    const st = await fs.stat(`${dir}/l`)
    expect(st).toBeInstanceOf(Stats)
    expect(st.isFile()).toBe(true)
    expect(st.isSymbolicLink()).toBe(false)
    expect(st.size).toBe(12)
    expect(st.mode).toBe(0o100000 | (0o604 & ~hostUmask()))
    expect(st.nlink).toBe(1)
    expect(st.uid).toBe(0)
    expect(st.blksize).toBeGreaterThan(0)
    expect(st.ino).toBeGreaterThan(0)
    const lst = await fs.lstat(`${dir}/l`)
    expect(lst.isSymbolicLink()).toBe(true)
    expect(lst.size).toBe(1)
    expect(lst.ino).not.toBe(st.ino)
    const big = await fs.stat(`${dir}/f`, { bigint: true })
    expect(big).toBeInstanceOf(BigIntStats)
    expect(big.size).toBe(12n)
    expect(big.ino).toBe(BigInt(st.ino))
    expect(big.mode).toBe(BigInt(st.mode))
    expect(big.dev).toBe(BigInt(st.dev))
    expect(big.mtimeNs / 1_000_000n).toBe(big.mtimeMs)
    expect(big.isFile()).toBe(true)
    expect((await fs.stat(dir)).isDirectory()).toBe(true)
    // The device number is the mount's, as /proc/self/mountinfo-style major:minor packed like glibc's makedev.
    const raw = k.buffer('stat64')
    await k.sys.fstatat64(k.constants.AT_FDCWD, `${dir}/f`, raw, 0)
    expect(BigInt(st.dev)).toBe(k.decode('stat64', raw).st_dev)
  })

  it('utimes sets the times Node would, to the ns, with Dates and seconds', async () => {
    const times: [Date | number, Date | number][] = [
      [1_234_567_890.123456, 1_600_000_000.987654321], [new Date(1_700_000_000_123), new Date(5)], [0, 4_000_000_000.5], ['77' as unknown as number, 3.25],
    ]
    for (const [atime, mtime] of times) {
      const { host, kernel } = await both(async (api, dir) => {
        await api.writeFile(`${dir}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
        await api.utimes(`${dir}/f`, atime as number, mtime as number)
        const number = await api.stat(`${dir}/f`)
        const big = await api.stat(`${dir}/f`, { bigint: true })
        return [number.atimeMs, number.mtimeMs, number.atime.getTime(), number.mtime.getTime(), String(big.atimeNs), String(big.mtimeNs),
          String(big.atimeMs), big.atime.getTime(), big.mtime.getTime()]
      })
      expect(kernel, String([atime, mtime])).toEqual(host)
    }
  })

  it('lutimes sets a symlink\'s own times', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/f`, '')
    await fs.symlink('f', `${dir}/l`)
    await fs.utimes(`${dir}/f`, 100, 100)
    await fs.lutimes(`${dir}/l`, 200, 300)
    expect((await fs.lstat(`${dir}/l`)).mtimeMs).toBe(300_000)
    expect((await fs.stat(`${dir}/l`)).mtimeMs).toBe(100_000)
  })

  it('chmod, chown, lchown and access', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/f`, '')
    await fs.chmod(`${dir}/f`, 0o640)
    expect((await fs.stat(`${dir}/f`)).mode & 0o7777).toBe(0o640)
    await fs.chmod(`${dir}/f`, '751')
    expect((await fs.stat(`${dir}/f`)).mode & 0o7777).toBe(0o751)
    await fs.chown(`${dir}/f`, 1234, 5678)
    expect(await fs.stat(`${dir}/f`)).toMatchObject({ uid: 1234, gid: 5678 })
    await fs.symlink('f', `${dir}/l`)
    await fs.lchown(`${dir}/l`, 42, 43)
    expect(await fs.lstat(`${dir}/l`)).toMatchObject({ uid: 42, gid: 43 })
    expect(await fs.stat(`${dir}/l`)).toMatchObject({ uid: 1234, gid: 5678 })
    await fs.access(`${dir}/f`)
    await fs.access(`${dir}/f`, fs.constants.R_OK | fs.constants.X_OK)
    await fs.chmod(`${dir}/f`, 0o644)
    // Even root may not execute a file without any x bit.
    await expect(fs.access(`${dir}/f`, fs.constants.X_OK)).rejects.toMatchObject({ code: 'EACCES', syscall: 'access' })
  })

  it('link, symlink and readlink', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/f`, 'data')
    await fs.link(`${dir}/f`, `${dir}/hard`)
    expect((await fs.stat(`${dir}/f`)).nlink).toBe(2)
    expect(await fs.readFile(`${dir}/hard`, 'utf8')).toBe('data')
    await fs.symlink('f', `${dir}/soft`)
    await fs.symlink('nowhere', `${dir}/dangling`)
    expect(await fs.readlink(`${dir}/soft`)).toBe('f')
    expect(await fs.readlink(`${dir}/dangling`)).toBe('nowhere')
    const asBuffer = await fs.readlink(`${dir}/soft`, { encoding: 'buffer' })
    expect(Buffer.isBuffer(asBuffer) && asBuffer.toString()).toBe('f')
    expect(await fs.readlink(`${dir}/soft`, 'hex')).toBe('66')
    // link does not follow a symlink: the new name is another link to the symlink.
    await fs.link(`${dir}/dangling`, `${dir}/dangling2`)
    expect((await fs.lstat(`${dir}/dangling2`)).isSymbolicLink()).toBe(true)
    const long = 'x/'.repeat(1000) + 'end'
    await fs.symlink(long, `${dir}/long`)
    expect(await fs.readlink(`${dir}/long`)).toBe(long)
  })
})

describe('k.fs: errors', () => {
  /** Operations that fail, each run on Node in a host directory and on k.fs: the same error, field by field. */
  const failing: [string, (api: FsApi, dir: string) => Promise<unknown>][] = [
    ['readFile of nothing', (api, d) => api.readFile(`${d}/nope`)],
    ['readFile of a directory', (api, d) => api.readFile(d)],
    ['writeFile onto a directory', (api, d) => api.writeFile(d, new Uint8Array(1), { flag: 'w', mode: 0o644 })],
    ['appendFile under a file', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.appendFile(`${d}/f/x`, new Uint8Array(1))
    }],
    ['mkdir of what exists', (api, d) => api.mkdir(d, { recursive: false, mode: 0o755 })],
    ['mkdir -p through a file', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.mkdir(`${d}/f/x/y`, { recursive: true, mode: 0o755 })
    }],
    ['readdir of nothing', (api, d) => api.readdir(`${d}/nope`)],
    ['readdir of a file', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.readdir(`${d}/f`)
    }],
    ['stat of nothing', (api, d) => api.stat(`${d}/nope`)],
    ['lstat under nothing', (api, d) => api.lstat(`${d}/nope/x`)],
    ['rename of nothing', (api, d) => api.rename(`${d}/nope`, `${d}/x`)],
    ['rename of a directory into itself', async (api, d) => {
      await api.mkdir(`${d}/a`, { recursive: false, mode: 0o755 })
      return api.rename(`${d}/a`, `${d}/a/b`)
    }],
    ['rm of a directory without recursive', (api, d) => api.rm(d, { recursive: false, force: false })],
    ['rm of nothing', (api, d) => api.rm(`${d}/nope`, { recursive: true, force: false })],
    ['rmdir of a file', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.rmdir(`${d}/f`)
    }],
    ['unlink of a directory', (api, d) => api.unlink(d)],
    ['link of nothing', (api, d) => api.link(`${d}/nope`, `${d}/x`)],
    ['link of a directory', (api, d) => api.link(d, `${d}/x`)],
    ['symlink onto a name in use', (api, d) => api.symlink('target', d)],
    ['readlink of a file', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.readlink(`${d}/f`)
    }],
    ['chmod of nothing', (api, d) => api.chmod(`${d}/nope`, 0o644)],
    ['truncate of a directory', (api, d) => api.truncate(d, 0)],
    ['access of nothing', (api, d) => api.access(`${d}/nope`, 0)],
    ['copyFile of nothing', (api, d) => api.copyFile(`${d}/nope`, `${d}/x`, 0)],
    ['copyFile with EXCL onto a file', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.copyFile(`${d}/f`, `${d}/f`, 1)
    }],
    ['copyFile onto a directory', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.copyFile(`${d}/f`, d, 0)
    }],
    ['utimes of nothing', (api, d) => api.utimes(`${d}/nope`, 1, 1)],
    ['open wx of a file', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      return api.open(`${d}/f`, 'wx')
    }],
    ['a symlink loop', async (api, d) => {
      await api.symlink('loop', `${d}/loop`)
      return api.stat(`${d}/loop`)
    }],
    ['write to a handle opened for reading', async (api, d) => {
      await api.writeFile(`${d}/f`, new Uint8Array(1), { flag: 'w', mode: 0o644 })
      const handle = await api.open(`${d}/f`, 'r')
      try {
        return await handle.write(new Uint8Array(1), 0, 1, null)
      } finally {
        await handle.close()
      }
    }],
  ]
  for (const [name, fn] of failing) {
    it(`${name}: the error Node gives`, async () => {
      const { host, kernel } = await both(fn)
      expect(host, 'the host call did not fail').toHaveProperty('error')
      expect(kernel).toEqual(host)
    })
  }

  it('errors are FsErrors with a negative errno, the kernel\'s LinuxError as cause', async () => {
    const error: unknown = await fs.stat('/t/nope').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FsError)
    expect(error).toBeInstanceOf(Error)
    expect(error).toMatchObject({ code: 'ENOENT', errno: -k.constants.ENOENT, syscall: 'stat', path: '/t/nope',
      message: "ENOENT: no such file or directory, stat '/t/nope'" })
    expect((error as Error).cause).toBeInstanceOf(LinuxError)
    expect(Object.keys(error as object)).not.toContain('dest')
  })
})

describe('k.fs: FileHandle', () => {
  it('reads, writes, stats, truncates, syncs and closes like Node\'s FileHandle', async () => {
    const { host, kernel } = await both(async (api, dir) => {
      const handle = await api.open(`${dir}/f`, 'w+')
      const steps: unknown[] = []
      steps.push((await handle.write(Buffer.from('hello world'), 0, 11, null)).bytesWritten)
      steps.push((await handle.write(Buffer.from('HELLO'), 0, 5, 6)).bytesWritten)
      const buffer = new Uint8Array(8)
      steps.push((await handle.read(buffer, 2, 6, 0)).bytesRead, Buffer.from(buffer).toString('hex'))
      // The file offset is past the first write: a read without a position finds the end.
      steps.push((await handle.read(buffer, 0, 8, null)).bytesRead)
      await handle.truncate(4)
      const st = await handle.stat()
      steps.push(st.size, st.isFile())
      await handle.close()
      steps.push(Buffer.from(await api.readFile(`${dir}/f`)).toString())
      return steps
    })
    expect(kernel).toEqual(host)
  })

  it('has Node\'s other forms: read() with no buffer, options, strings, positions as bigints', async () => {
    const dir = await kdir()
    const handle = await fs.open(`${dir}/f`, 'w+', 0o600)
    expect(handle.fd).toBeGreaterThanOrEqual(0)
    const written = await handle.write('päth', 0, 'utf8')
    expect(written).toEqual({ bytesWritten: 5, buffer: 'päth' })
    // A positioned write leaves the file offset at 0: read() reads it all, into Node's 16 KiB default buffer.
    const all = await handle.read()
    expect(all.buffer.length).toBe(16384)
    expect(all.buffer.subarray(0, all.bytesRead).toString()).toBe('päth')
    const some = await handle.read({ buffer: Buffer.alloc(10), position: 1n })
    expect(some.buffer.subarray(0, some.bytesRead).toString()).toBe('äth')
    const placed = await handle.read(Buffer.alloc(4), { offset: 1, length: 2, position: 0 })
    expect([...placed.buffer]).toEqual([0, 0x70, 0xc3, 0])
    await expect(handle.read(Buffer.alloc(4), 3, 2, 0)).rejects.toThrow(RangeError)
    await handle.writeFile('rest')
    await handle.sync()
    await handle.datasync()
    await handle.chmod(0o640)
    await handle.utimes(10, 20)
    const big = await handle.stat({ bigint: true })
    expect(big.mtimeNs).toBe(20_000_000_000n)
    expect(Number(big.mode) & 0o777).toBe(0o640)
    await handle.chown(7, 8)
    expect(await fs.readFile(`${dir}/f`, 'utf8')).toBe('päthrest')
    expect(await fs.readFile(handle, 'utf8')).toBe('')
    await handle[Symbol.asyncDispose]()
    expect(handle.fd).toBe(-1)
    await handle.close()
  })

  it('an operation on a closed handle fails as on Node', async () => {
    const { host, kernel } = await both(async (api, dir) => {
      const handle = await api.open(dir, 'r')
      await handle.close()
      return handle.read(new Uint8Array(1), 0, 1, 0)
    })
    expect(host).toHaveProperty('error')
    expect(kernel).toEqual(host)
  })

  it('a handle\'s readFile reads from its offset, and k.fs.readFile takes a handle', async () => {
    const dir = await kdir()
    await fs.writeFile(`${dir}/f`, 'abcdef')
    const handle = await fs.open(`${dir}/f`)
    await handle.read(new Uint8Array(2), 0, 2, null)
    expect(await fs.readFile(handle, 'utf8')).toBe('cdef')
    await handle.close()
  })
})

describe('k.fs: the root option', () => {
  it('resolves every path inside the root: "..", absolute paths and absolute symlinks stay in', async () => {
    const base = await kdir()
    await fs.mkdir(`${base}/root/etc`, { recursive: true })
    await fs.writeFile(`${base}/root/etc/passwd`, 'inside')
    await fs.writeFile(`${base}/passwd`, 'outside')
    const rooted = kernelFs(k, { root: `${base}/root` })
    try {
      expect(await rooted.readFile('/etc/passwd', 'utf8')).toBe('inside')
      expect(await rooted.readFile('etc/passwd', 'utf8')).toBe('inside')
      expect(await rooted.readFile('/../../../etc/passwd', 'utf8')).toBe('inside')
      expect(await rooted.readdir('/..')).toEqual(['etc'])
      expect((await rooted.stat('/..')).ino).toBe((await fs.stat(`${base}/root`)).ino)
      await rooted.symlink('/etc/passwd', '/abs')
      await rooted.symlink('../../../etc/passwd', '/up')
      expect(await rooted.readFile('/abs', 'utf8')).toBe('inside')
      expect(await rooted.readFile('/up', 'utf8')).toBe('inside')
      expect(await rooted.readlink('/abs')).toBe('/etc/passwd')
      await expect(rooted.readlink('/etc/passwd')).rejects.toMatchObject({ code: 'EINVAL', syscall: 'readlink', path: '/etc/passwd' })
      // Writes land under the root, as the unrooted view shows.
      await rooted.mkdir('/new/dir', { recursive: true })
      await rooted.writeFile('/new/dir/f', 'made')
      expect(await fs.readFile(`${base}/root/new/dir/f`, 'utf8')).toBe('made')
      await rooted.rename('/new/dir/f', '/../moved')
      expect(await fs.readdir(`${base}/root`)).toEqual(['abs', 'etc', 'moved', 'new', 'up'])
      expect(await fs.readFile(`${base}/passwd`, 'utf8')).toBe('outside')
      // Errors name the path as the caller gave it.
      await expect(rooted.stat('/nope')).rejects.toMatchObject({ code: 'ENOENT', path: '/nope', message: "ENOENT: no such file or directory, stat '/nope'" })
    } finally {
      await rooted.close()
    }
    await expect(rooted.stat('/')).rejects.toThrow(/closed/)
  })

  it('opens made at once, before the root is open, each keep their own flags and mode', async () => {
    const base = await kdir()
    await fs.writeFile(`${base}/old`, 'before')
    const rooted = kernelFs(k, { root: base })
    try {
      // All wait for the root's descriptor, then open: a create, a read, an exclusive create with its mode.
      await Promise.all([
        rooted.writeFile('/made', 'created', { mode: 0o600 }),
        expect(rooted.readFile('/old', 'utf8')).resolves.toBe('before'),
        rooted.open('/excl', 'wx', 0o640).then((handle) => handle.close()),
      ])
      expect(await fs.readFile(`${base}/made`, 'utf8')).toBe('created')
      expect((await fs.stat(`${base}/made`)).mode & 0o777).toBe(0o600 & ~hostUmask())
      expect((await fs.stat(`${base}/excl`)).mode & 0o777).toBe(0o640 & ~hostUmask())
    } finally {
      await rooted.close()
    }
  })

  it('close releases the root, so its mount can be unmounted', async () => {
    const mount = await k.mountFs('tmpfs', { target: `${await kdir()}/mnt` })
    const rooted = kernelFs(k, { root: mount })
    await rooted.writeFile('/f', 'x')
    await expect(k.sys.umount2(mount, 0)).rejects.toMatchObject({ code: 'EBUSY' })
    await rooted.close()
    await k.sys.umount2(mount, 0)
  })

  it('a root that does not exist fails each call with the root named', async () => {
    const rooted = kernelFs(k, { root: '/t/no-such-root' })
    await expect(rooted.stat('/x')).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open', path: '/t/no-such-root' })
    await rooted.close()
    expect(() => kernelFs(k, { root: 'relative' })).toThrow(TypeError)
  })
})

describe('k.fs against node:fs/promises: sequences of calls', () => {
  let base = 0

  /** Run calls on a fresh host root and a fresh kernel root (rooted or not); the difference, or null. */
  async function differ(calls: readonly FsCall[], rooted: boolean, sabotage?: (api: FsApi) => FsApi): Promise<string | null> {
    const [hostParent, hostBase] = hostRoot(hostScratch())
    mkdirSync(hostBase)
    chmodSync(hostBase, 0o755)
    const kernelParent = `/t/seq-${++base}`
    await k.sys.mkdirat(k.constants.AT_FDCWD, kernelParent, 0o700)
    await k.sys.mkdirat(k.constants.AT_FDCWD, `${kernelParent}/w`, 0o755)
    await k.sys.fchmodat(k.constants.AT_FDCWD, `${kernelParent}/w`, 0o755)
    const api = rooted ? kernelFs(k, { root: kernelParent }) : fs
    const host = new Side(nodeFs, hostBase, hostParent, compareDirSizes)
    const kernel = rooted
      ? new Side(sabotage?.(api) ?? api, '/w', '', compareDirSizes)
      : new Side(sabotage?.(api) ?? api, `${kernelParent}/w`, kernelParent, compareDirSizes)
    try {
      return await compare(calls, host, kernel)
    } finally {
      await host.dispose()
      await kernel.dispose()
      removeHostRoot(hostParent)
      await fs.rm(kernelParent, { recursive: true })
      if (rooted) await api.close()
    }
  }

  const property = (rooted: boolean, sabotage?: (api: FsApi) => FsApi) => fc.asyncProperty(fsCalls, async (calls) => {
    const difference = await differ(calls, rooted, sabotage)
    if (difference !== null) throw new Error(`k.fs and node:fs/promises differ:\n${difference}`)
  })

  for (const seed of SEEDS) {
    it(`seed ${seed}: ${RUNS_PER_SEED} sequences give Node's results and errors`, async () => {
      await fc.assert(property(false), { seed, numRuns: RUNS_PER_SEED })
    })
    it(`seed ${seed}: the same with the root option (paths resolved in the root)`, async () => {
      await fc.assert(property(true), { seed, numRuns: RUNS_PER_SEED })
    })
  }

  it('the sequences reach every call, and successes and many kinds of errors', async () => {
    const programs = fc.sample(fsCalls, { seed: CHECK_SEED, numRuns: RUNS_PER_SEED })
    const kinds = new Set(programs.flat().map((call) => call.op))
    expect([...kinds].sort()).toEqual(['access', 'appendFile', 'chmod', 'close', 'copyFile', 'fstat', 'ftruncate', 'link', 'lstat',
      'mkdir', 'open', 'read', 'readFile', 'readdir', 'readdirTypes', 'readlink', 'rename', 'rm', 'rmdir', 'stat', 'symlink',
      'truncate', 'unlink', 'utimes', 'write', 'writeFile'])
    const codes = new Map<string, number>()
    const [parent, dir] = hostRoot(hostScratch())
    mkdirSync(dir)
    const host = new Side(nodeFs, dir, parent, compareDirSizes)
    try {
      for (const call of programs.flat()) {
        const outcome = await host.run(call)
        const key = 'error' in outcome ? String(outcome.error.code) : 'ok' in outcome ? 'ok' : 'skipped'
        codes.set(key, (codes.get(key) ?? 0) + 1)
      }
    } finally {
      await host.dispose()
      removeHostRoot(parent)
    }
    for (const code of ['ok', 'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EINVAL', 'ERR_FS_EISDIR', 'EBADF']) {
      expect(codes.get(code) ?? 0, `outcome ${code} in ${JSON.stringify(Object.fromEntries(codes))}`).toBeGreaterThan(0)
    }
  })

  it('a k.fs whose errors name another syscall is caught, with a short sequence that shows it', async () => {
    // readdir's errors as 'readdir' (the syscall's own name) instead of Node's 'scandir'.
    const misnamed = (api: FsApi): FsApi => new Proxy(api, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key)
        if (typeof value !== 'function') return value
        const method = (...args: unknown[]): Promise<unknown> => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        return key !== 'readdir' ? method : (...args: unknown[]) => method(...args).catch((error: unknown) => {
          throw error instanceof FsError ? new FsError(error.message, { ...error, syscall: 'readdir' }) : error
        })
      },
    })
    const result = await fc.check(property(false, misnamed), { seed: CHECK_SEED, numRuns: 100 })
    expect(result.failed, 'the comparison missed a wrong syscall name').toBe(true)
    expect(String(result.errorInstance)).toMatch(/"syscall":"readdir"/)
    expect(result.counterexample?.[0].length, 'shrunk counterexample').toBeLessThanOrEqual(3)
  })
})
