// SPDX-License-Identifier: MIT
/**
 * image-tools.test.ts - `uklkl cp | ls | cat | tar` (src/cli/image-tools.ts) against
 * tools nobody here wrote: trees copied into fresh images must pass e2fsck -fn /
 * fsck.vfat -n and read back (debugfs rdump, mcopy) exactly as they were, with
 * modes, owners and times under -p; images made by mke2fs -d / mcopy must come
 * out as the trees they were made from; ls must print what the host's
 * `LC_ALL=C ls -ln` prints for the same tree, tar streams must be listed and
 * extracted by the host's tar; errors must read and exit as coreutils' do.
 *
 * Most runs call the tools in this process (imageTool, each boots its own
 * kernel); a few run `node --import tsx src/cli/main.ts` as a real process for
 * exit statuses, stdout and stderr.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync, chownSync, lchownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync,
  statSync, symlinkSync, truncateSync, writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IMAGE_TOOLS, type ImageToolName, imageTool } from '../../src/cli/image-tools.js'
import { imageOperand } from '../../src/cli/operands.js'
import { Progress } from '../../src/cli/progress.js'
import { hostUmask } from '../../src/cli/trees.js'
import {
  type Manifest, contentsOf, extractPartition, fsck, makeExt4, makeVfat, manifestOf, partitioned, readBack, seededTree, toolEnv,
} from '../support/images.js'

const KiB = 1024
const MiB = 1024 * KiB
const REPO = fileURLToPath(new URL('../..', import.meta.url))
/** 2001-02-03 04:05:06 UTC: far from now, so a time that was kept cannot be mistaken for one that was made. */
const OLD = 981_173_106

let work: string
/** The source tree: data/ (seeded), meta/ (modes, owners, links, odd names), special/ (a FIFO and a device). */
let src: string
/** src/data and src/meta as the host reads them (special/ is not a manifest's business). */
let srcManifest: Manifest
/** An ext4 image made by mke2fs -d from src. */
let srcImage: string
const umask = hostUmask()

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-image-tools-'))
  src = path.join(work, 'src')
  makeSourceTree(src)
  srcManifest = manifestOf(src, { ignore: ['special'] })
  srcImage = path.join(work, 'src.img')
  await makeExt4(srcImage, { sizeMiB: 32, from: src })
})

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

let serial = 0
/** A fresh path in the scratch directory. */
function scratch(name: string): string {
  return path.join(work, `${serial++}-${name}`)
}

function sh(command: string, args: readonly string[], env: NodeJS.ProcessEnv = toolEnv): string {
  const r = spawnSync(command, args, { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.status ?? r.signal} ${r.stderr}`)
  return r.stdout
}

/** mtime (and atime) to the nanosecond, of the path itself (touch -h: symlinks too). */
function touch(file: string, seconds: number, nanoseconds = 0): void {
  sh('touch', ['-h', '-d', `@${seconds}.${String(nanoseconds).padStart(9, '0')}`, file])
}

/**
 * The source tree: seeded files under data/, then what cp -p must carry: modes
 * (0600, 0666, set-uid, a 0555 and a 0700 directory), owners other than root, an
 * empty file and directory, a name with spaces and UTF-8, a 3 MiB file (several
 * chunks), symlinks (relative, absolute, dangling, to a directory), a hard-linked
 * pair, and old mtimes with nanoseconds on everything.
 */
function makeSourceTree(root: string): void {
  seededTree(path.join(root, 'data'), { seed: 21, files: 40, totalBytes: 900 * KiB, dirs: 5 })
  const meta = path.join(root, 'meta')
  mkdirSync(meta)
  const file = (name: string, bytes: Uint8Array | string, mode: number, owner?: [number, number]): void => {
    const where = path.join(meta, name)
    writeFileSync(where, bytes)
    if (owner !== undefined) chownSync(where, owner[0], owner[1])
    // chmod after chown: chown clears the set-id bits.
    chmodSync(where, mode)
  }
  file('empty', '', 0o644)
  file('private.bin', 'secret\n', 0o600, [1234, 5678])
  file('shared.bin', 'for all\n', 0o666)
  file('setuid', '#!/bin/sh\n', 0o4755, [0, 0])
  file('name with spaces é.txt', 'odd name\n', 0o644)
  file('big.bin', Buffer.alloc(3 * MiB + 123, 0x5a).map((_, i) => (i * 7919) & 0xff), 0o640, [4321, 8765])
  file('hard-a', 'linked\n', 0o644)
  linkSync(path.join(meta, 'hard-a'), path.join(meta, 'hard-b'))
  symlinkSync('big.bin', path.join(meta, 'link-rel'))
  symlinkSync('/etc/hostname', path.join(meta, 'link-abs'))
  symlinkSync('nowhere', path.join(meta, 'link-dangling'))
  symlinkSync('../data', path.join(meta, 'link-dir'))
  lchownSync(path.join(meta, 'link-rel'), 1234, 5678)
  mkdirSync(path.join(meta, 'empty-dir'))
  chmodSync(path.join(meta, 'empty-dir'), 0o700)
  mkdirSync(path.join(meta, 'read-only'))
  writeFileSync(path.join(meta, 'read-only', 'inside'), 'in a 0555 directory\n')
  chmodSync(path.join(meta, 'read-only'), 0o555)
  const special = path.join(root, 'special')
  mkdirSync(special)
  sh('mkfifo', [path.join(special, 'fifo')])
  sh('mknod', [path.join(special, 'null'), 'c', '1', '3'])
  sh('mknod', ['-m', '640', path.join(special, 'disk'), 'b', '259', '70000'])
  // Times last, deepest first (each entry made changes its directory's mtime), each its own second and nanoseconds.
  const all = [...walk(root), root].sort((a, b) => b.split('/').length - a.split('/').length)
  for (const [i, where] of all.entries()) touch(where, OLD + i * 1000, (i * 7_919_357) % 1_000_000_000)
}

/** Every path under root (not root itself). */
function walk(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const where = path.join(root, name)
    return lstatSync(where).isDirectory() ? [where, ...walk(where)] : [where]
  })
}

/** Owner and mtime (whole seconds: what debugfs rdump restores) of every file and directory under root. */
function ownersAndTimes(root: string, ignore: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const where of walk(root)) {
    const relative = path.relative(root, where)
    if (ignore.some((i) => relative === i || relative.startsWith(`${i}/`))) continue
    const st = lstatSync(where, { bigint: true })
    if (st.isSymbolicLink()) continue
    out[relative] = `${st.uid}:${st.gid} ${st.mtimeNs / 1_000_000_000n}`
  }
  return out
}

/** debugfs's view of one inode: its mode, owner and mtime to the nanosecond. */
function debugfsStat(image: string, file: string): { mode: number, uid: number, gid: number, mtimeNs: bigint } {
  const text = sh('debugfs', ['-R', `stat "${file}"`, image])
  const mode = /Mode:\s+(\d+)/.exec(text)?.[1]
  const owner = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(text)
  // "mtime: 0xSECONDS:EXTRA": the extra field is (nanoseconds << 2) | epoch bits.
  const mtime = /mtime: 0x([0-9a-f]+):([0-9a-f]+)/.exec(text)
  if (mode === undefined || owner === null || mtime?.[1] === undefined || mtime[2] === undefined) throw new Error(`debugfs stat ${file}:\n${text}`)
  const nanoseconds = BigInt(Number.parseInt(mtime[2], 16) >>> 2)
  return { mode: Number.parseInt(mode, 8), uid: Number(owner[1]), gid: Number(owner[2]), mtimeNs: BigInt(Number.parseInt(mtime[1], 16)) * 1_000_000_000n + nanoseconds }
}

/** What debugfs rdump reads back from an ext4 image (lost+found left out). */
async function imageManifest(image: string): Promise<{ manifest: Manifest, dir: string }> {
  const dir = scratch('rdump')
  await readBack(image, 'ext4', dir)
  return { manifest: manifestOf(dir, { ignore: ['lost+found'] }), dir }
}

/** rdump cannot restore a set-uid bit (it chmods, then chowns, which clears it): the manifest it gives. */
function asRdumpRestores(m: Manifest): Manifest {
  return Object.fromEntries(Object.entries(m).map(([k, e]) => [k, e.type === 'file' ? { ...e, mode: e.mode & 0o1777 } : e]))
}

/** A manifest under prefix/ only, with the prefix taken off. */
function under(m: Manifest, prefix: string): Manifest {
  return Object.fromEntries(Object.entries(m).flatMap(([k, e]) => (k.startsWith(`${prefix}/`) ? [[k.slice(prefix.length + 1), e]] : [])))
}

interface Run {
  status: number
  stdout: Buffer
  stderr: string
}

/** A tool run in this process, stdout and stderr collected (neither a terminal unless tty). */
async function tool(args: readonly string[], options: { tty?: boolean, signal?: AbortSignal, stdoutTTY?: boolean } = {}): Promise<Run> {
  const [name, ...rest] = args
  if (!(IMAGE_TOOLS as readonly (string | undefined)[]).includes(name)) throw new Error(`no tool ${name}`)
  const chunks: Buffer[] = []
  let errors = ''
  const stdout = Object.assign(new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(Buffer.from(chunk)); done() } }),
    { isTTY: options.stdoutTTY === true })
  const stderr = Object.assign(new Writable({ write(chunk: Buffer, _encoding, done) { errors += chunk.toString(); done() } }),
    options.tty === true ? { isTTY: true, columns: 100 } : {})
  const status = await imageTool(name as ImageToolName, rest, {
    stdout, stderr, ...(options.signal === undefined ? {} : { signal: options.signal }),
  })
  return { status, stdout: Buffer.concat(chunks), stderr: errors }
}

/** `uklkl ARGS...` as a process of its own; rejects if it runs longer than timeoutMs. */
function uklkl(args: readonly string[], timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO, env: toolEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.setEncoding('utf8').on('data', (text: string) => { err += text })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`uklkl ${args.join(' ')} ran past ${timeoutMs} ms (a hang); stderr so far:\n${err}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status: status ?? -1, stdout: Buffer.concat(out), stderr: err })
    })
  })
}

describe('cp into an image', () => {
  it('-p: e2fsck -fn finds it clean, and rdump gives back the tree with its modes, owners and times', async () => {
    const image = scratch('in-p.img')
    await makeExt4(image, { sizeMiB: 32 })
    const run = await tool(['cp', '-p', path.join(src, 'data'), path.join(src, 'meta'), `${image}:/`])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const check = await fsck(image, 'ext4')
    expect(check.clean, check.output).toBe(true)
    const back = await imageManifest(image)
    expect(back.manifest).toEqual(asRdumpRestores(srcManifest))
    expect(ownersAndTimes(back.dir, ['lost+found'])).toEqual(ownersAndTimes(src, ['special']))
    // What rdump cannot show: the set-uid bit, nanoseconds, and a symlink's own owner.
    expect(debugfsStat(image, '/meta/setuid').mode).toBe(0o4755)
    for (const file of ['meta/big.bin', 'meta/read-only', 'data']) {
      const host = lstatSync(path.join(src, file), { bigint: true })
      const inImage = debugfsStat(image, `/${file}`)
      expect(inImage.mtimeNs, file).toBe(host.mtimeNs)
      expect(inImage.mode, file).toBe(Number(host.mode) & 0o7777)
    }
    expect(debugfsStat(image, '/meta/link-rel')).toMatchObject({ uid: 1234, gid: 5678 })
  })

  it('without -p: the umask cuts the modes, set-id bits go, root owns everything, and it is dated now', async () => {
    const image = scratch('in-plain.img')
    await makeExt4(image, { sizeMiB: 32 })
    const before = BigInt(Date.now() - 2000) * 1_000_000n
    const run = await tool(['cp', path.join(src, 'meta'), `${image}:/copy`])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect((await fsck(image, 'ext4')).clean).toBe(true)
    const back = await imageManifest(image)
    const expected = Object.fromEntries(Object.entries(under(srcManifest, 'meta')).map(([k, e]) =>
      [k, e.type === 'symlink' ? e : { ...e, mode: e.mode & (e.type === 'file' ? 0o777 : 0o7777) & ~umask }]))
    expect(under(back.manifest, 'copy')).toEqual(expected)
    for (const file of ['/copy/private.bin', '/copy/big.bin', '/copy/read-only']) {
      const st = debugfsStat(image, file)
      expect(st, file).toMatchObject({ uid: 0, gid: 0 })
      expect(st.mtimeNs, `${file} is dated now (the kernel's clock is set), not ${st.mtimeNs}`).toBeGreaterThan(before)
    }
  })

  it('a copy of 20 MiB, written out to the image every 8 MiB on its way, reads back exactly and is clean', async () => {
    const tree = scratch('twenty')
    const written = seededTree(tree, { seed: 22, files: 160, totalBytes: 20 * MiB, dirs: 8 })
    const image = scratch('in-twenty.img')
    await makeExt4(image, { sizeMiB: 64 })
    const run = await tool(['cp', `${tree}/.`, `${image}:/`])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect((await fsck(image, 'ext4')).clean).toBe(true)
    expect(contentsOf((await imageManifest(image)).manifest)).toEqual(contentsOf(written))
  })

  it('copies a file to a new name, into a directory, and merges a directory into one that exists', async () => {
    const image = scratch('in-shapes.img')
    await makeExt4(image, { sizeMiB: 16 })
    const big = path.join(src, 'meta', 'big.bin')
    expect((await tool(['cp', big, `${image}:/renamed`])).status).toBe(0)
    expect((await tool(['cp', '-r', path.join(src, 'meta', 'read-only'), `${image}:/dir`])).status).toBe(0)
    expect((await tool(['cp', big, path.join(src, 'meta', 'empty'), `${image}:/dir`])).status).toBe(0)
    // dir/ exists now: read-only's contents go into dir/read-only, next to what is there.
    expect((await tool(['cp', path.join(src, 'meta', 'read-only'), `${image}:/dir`])).status).toBe(0)
    const back = await imageManifest(image)
    const bigEntry = srcManifest['meta/big.bin']
    expect(back.manifest.renamed).toEqual({ ...bigEntry, mode: 0o640 & ~umask })
    expect(Object.keys(back.manifest)).toEqual(['dir', 'dir/big.bin', 'dir/empty', 'dir/inside', 'dir/read-only', 'dir/read-only/inside', 'renamed'])
    expect((await fsck(image, 'ext4')).clean).toBe(true)
  })

  it('copies device nodes and FIFOs as nodes', async () => {
    const image = scratch('in-special.img')
    await makeExt4(image, { sizeMiB: 16 })
    expect(await tool(['cp', '-p', path.join(src, 'special'), `${image}:/`])).toMatchObject({ status: 0, stderr: '' })
    const stat = (file: string): string => sh('debugfs', ['-R', `stat /special/${file}`, image])
    expect(stat('fifo')).toMatch(/Type: FIFO\s+Mode:\s+0644/)
    expect(stat('null')).toMatch(/Type: character special\s+Mode:\s+0644[^]*Device major\/minor number: 01:03/)
    // A minor above 255 takes the kernel's new encoding of device numbers.
    expect(stat('disk')).toMatch(/Type: block special\s+Mode:\s+0640[^]*Device major\/minor number: 259:70000/)
    expect((await fsck(image, 'ext4')).clean).toBe(true)
  })

  it('reports each failure as cp does, copies the rest, and exits 1', async () => {
    const image = scratch('in-errors.img')
    await makeExt4(image, { sizeMiB: 16 })
    const missing = path.join(work, 'no-such-file')
    const run = await tool(['cp', missing, path.join(src, 'meta', 'private.bin'), `${image}:/`])
    expect(run.stderr).toBe(`uklkl cp: cannot stat '${missing}': No such file or directory\n`)
    expect(run.status).toBe(1)
    expect((await imageManifest(image)).manifest['private.bin']).toBeDefined()

    const several = await tool(['cp', path.join(src, 'meta', 'empty'), path.join(src, 'meta', 'big.bin'), `${image}:/nowhere`])
    expect(several).toMatchObject({ status: 1, stderr: `uklkl cp: target '${image}:/nowhere': No such file or directory\n` })
    const dirOnFile = await tool(['cp', path.join(src, 'meta', 'read-only'), `${image}:/private.bin`])
    expect(dirOnFile).toMatchObject({
      status: 1, stderr: `uklkl cp: cannot overwrite non-directory '${image}:/private.bin' with directory '${path.join(src, 'meta', 'read-only')}'\n`,
    })
    // A host file named like a directory in the image.
    const holder = path.join(work, 'holder')
    mkdirSync(holder)
    writeFileSync(path.join(holder, 'read-only'), 'a file\n')
    await tool(['cp', path.join(src, 'meta', 'read-only'), `${image}:/`])
    expect(await tool(['cp', path.join(holder, 'read-only'), `${image}:/`])).toMatchObject({
      status: 1, stderr: `uklkl cp: cannot overwrite directory '${image}:/read-only' with non-directory\n`,
    })
    expect(await tool(['cp', path.join(src, 'meta', 'empty'), `${image}:/private.bin/`])).toMatchObject({
      status: 1, stderr: `uklkl cp: cannot stat '${image}:/private.bin/': Not a directory\n`,
    })
    expect(await tool(['cp', path.join(src, 'meta', 'empty'), `${image}:/new/`])).toMatchObject({
      status: 1, stderr: `uklkl cp: cannot create regular file '${image}:/new/': Not a directory\n`,
    })
    expect((await fsck(image, 'ext4')).clean).toBe(true)
  })

  it('says "Read-only file system" with --read-only, and "No space left on device" when the image is full; both stay clean', async () => {
    const image = scratch('in-small.img')
    await makeExt4(image, { sizeMiB: 2 })
    const ro = await tool(['cp', '--read-only', path.join(src, 'meta', 'empty'), `${image}:/`])
    expect(ro).toMatchObject({ status: 1, stderr: `uklkl cp: cannot create regular file '${image}:/empty': Read-only file system\n` })
    const full = await tool(['cp', path.join(src, 'meta', 'big.bin'), path.join(src, 'meta', 'private.bin'), `${image}:/`])
    expect(full.status).toBe(1)
    expect(full.stderr).toBe(`uklkl cp: error writing '${image}:/big.bin': No space left on device\n`)
    const check = await fsck(image, 'ext4')
    expect(check.clean, check.output).toBe(true)
    expect((await imageManifest(image)).manifest['private.bin'], 'the file after the failed one was copied').toBeDefined()
  })

  it('stops between two files on SIGINT (io.signal), exits 130 and leaves the image clean', async () => {
    const image = scratch('in-interrupted.img')
    await makeExt4(image, { sizeMiB: 16 })
    const interrupt = new AbortController()
    interrupt.abort()
    const run = await tool(['cp', path.join(src, 'data'), `${image}:/`], { signal: interrupt.signal })
    expect(run).toMatchObject({ status: 130, stderr: 'uklkl cp: interrupted\n' })
    expect((await fsck(image, 'ext4')).clean).toBe(true)
  })
})

describe('cp out of an image', () => {
  it('gives back the tree mke2fs -d made the image from; -p keeps modes, owners and times', async () => {
    const out = scratch('out-p')
    const run = await tool(['cp', '-p', `${srcImage}:/data`, `${srcImage}:/meta`, out])
    // Two sources into a directory that does not exist: cp's answer.
    expect(run).toMatchObject({ status: 1, stderr: `uklkl cp: target '${out}': No such file or directory\n` })
    mkdirSync(out)
    const again = await tool(['cp', '-p', `${srcImage}:/data`, `${srcImage}:/meta`, out])
    expect(again.stderr).toBe('')
    expect(again.status).toBe(0)
    expect(manifestOf(out)).toEqual(srcManifest)
    // mke2fs -d keeps whole seconds of mtime; -p brings exactly those back.
    expect(ownersAndTimes(out)).toEqual(ownersAndTimes(src, ['special']))
    expect(lstatSync(path.join(out, 'meta', 'link-rel'))).toMatchObject({ uid: 1234, gid: 5678 })
  })

  it('without -p: a file to a new name, the root\'s contents into a directory, modes less the umask', async () => {
    const file = scratch('one-file')
    expect(await tool(['cp', `${srcImage}:/meta/shared.bin`, file])).toMatchObject({ status: 0, stderr: '' })
    expect(statSync(file).mode & 0o7777).toBe(0o666 & ~umask)
    expect(readFileSync(file, 'utf8')).toBe('for all\n')
    const out = scratch('out-root')
    mkdirSync(out)
    const run = await tool(['cp', `${srcImage}:/`, out])
    // The FIFO and the device node cannot be made by Node on the host: reported, the rest copied.
    expect(run.status).toBe(1)
    expect(run.stderr).toBe([
      `uklkl cp: cannot create special file '${out}/special/disk': Operation not supported`,
      `uklkl cp: cannot create fifo '${out}/special/fifo': Operation not supported`,
      `uklkl cp: cannot create special file '${out}/special/null': Operation not supported`,
      '',
    ].join('\n'))
    expect(contentsOf(manifestOf(out, { ignore: ['lost+found', 'special'] }))).toEqual(contentsOf(srcManifest))
    expect(statSync(path.join(out, 'meta', 'setuid')).mode & 0o7777, 'set-uid dropped without -p').toBe(0o755 & ~umask)
  })

  it('says cannot stat for a path the image does not have', async () => {
    const run = await tool(['cp', `${srcImage}:/meta/nope`, scratch('nope')])
    expect(run).toMatchObject({ status: 1, stderr: `uklkl cp: cannot stat '${srcImage}:/meta/nope': No such file or directory\n` })
  })
})

describe('vfat', () => {
  it('cp out of an image made by mkfs.vfat + mcopy, and into a fresh one that fsck.vfat calls clean and mcopy reads back', async () => {
    const data = path.join(src, 'data')
    const made = scratch('made.vfat')
    await makeVfat(made, { sizeMiB: 8, from: data })
    const out = scratch('vfat-out')
    mkdirSync(out)
    expect(await tool(['cp', `${made}:/`, out])).toMatchObject({ status: 0, stderr: '' })
    expect(contentsOf(manifestOf(out))).toEqual(contentsOf(under(srcManifest, 'data')))

    const fresh = scratch('fresh.vfat')
    await makeVfat(fresh, { sizeMiB: 8 })
    expect(await tool(['cp', `${data}/.`, `${fresh}:/`])).toMatchObject({ status: 0, stderr: '' })
    const check = await fsck(fresh, 'vfat')
    expect(check.clean, check.output).toBe(true)
    const back = scratch('vfat-back')
    await readBack(fresh, 'vfat', back)
    expect(contentsOf(manifestOf(back))).toEqual(contentsOf(under(srcManifest, 'data')))
  })
})

describe('ls', () => {
  /** The host's ls on the same tree: LC_ALL=C, numeric owners. */
  const hostLs = (args: readonly string[]): string => sh('ls', args, { ...toolEnv, LC_ALL: 'C' })
  /** Directory sizes are each filesystem's own accounting (ext4 blocks, the host's tmpfs or ext4): masked. */
  const maskDirSizes = (text: string): string => text.replace(/^(d[-rwxsStT]{9} +\d+ +\d+ +\d+) +\d+/gm, '$1 <size>')

  it('prints one name a line, as ls does off a terminal', async () => {
    const run = await tool(['ls', `${srcImage}:/meta`])
    expect(run.status).toBe(0)
    expect(run.stdout.toString()).toBe(hostLs(['-1', path.join(src, 'meta')]))
  })

  it('-l prints what ls -ln prints for the same files (mke2fs -d kept modes, owners, sizes and times)', async () => {
    for (const dir of ['meta', 'special', 'data']) {
      const run = await tool(['ls', '-l', `${srcImage}:/${dir}`])
      expect(run.stderr).toBe('')
      expect(run.status).toBe(0)
      const ours = run.stdout.toString().split('\n').filter((line) => !line.startsWith('total ')).join('\n')
      const host = hostLs(['-ln', path.join(src, dir)]).split('\n').filter((line) => !line.startsWith('total ')).join('\n')
      expect(maskDirSizes(ours), dir).toBe(maskDirSizes(host))
    }
  })

  it('lists files before directories, a heading per directory, -a adds the dot entries', async () => {
    const run = await tool(['ls', '-a', `${srcImage}:/meta/read-only`, `${srcImage}:/meta/empty`, srcImage])
    expect(run.status).toBe(0)
    expect(run.stdout.toString()).toBe(['/meta/empty', '', '/meta/read-only:', '.', '..', 'inside', '', '/:', '.', '..', 'data', 'lost+found', 'meta', 'special', ''].join('\n'))
  })

  it('exits 2 for a path it cannot access, and still lists the others', async () => {
    const run = await tool(['ls', `${srcImage}:/nope`, `${srcImage}:/meta/read-only`])
    expect(run).toMatchObject({ status: 2, stderr: `uklkl ls: cannot access '${srcImage}:/nope': No such file or directory\n` })
    expect(run.stdout.toString()).toBe('/meta/read-only:\ninside\n')
  })
})

describe('cat', () => {
  it('writes the files\' bytes, one after another, and reports what it cannot read', async () => {
    const run = await tool(['cat', `${srcImage}:/meta/big.bin`, `${srcImage}:/meta/read-only`, `${srcImage}:/nope`, `${srcImage}:/meta/private.bin`])
    expect(run.stderr).toBe(`uklkl cat: ${srcImage}:/meta/read-only: Is a directory\nuklkl cat: ${srcImage}:/nope: No such file or directory\n`)
    expect(run.status).toBe(1)
    const expected = Buffer.concat([readFileSync(path.join(src, 'meta', 'big.bin')), readFileSync(path.join(src, 'meta', 'private.bin'))])
    expect(run.stdout.equals(expected)).toBe(true)
  })
})

describe('tar', () => {
  it('is a stream the host\'s tar lists and extracts into the same tree, owners, times and hard links kept', async () => {
    const run = await tool(['tar', srcImage])
    expect(run).toMatchObject({ status: 0, stderr: '' })
    const archive = scratch('image.tar')
    writeFileSync(archive, run.stdout)
    const names = sh('tar', ['-tf', archive]).trim().split('\n')
    expect(names).toContain('meta/big.bin')
    expect(names).toContain('meta/read-only/')
    expect(names.some((n) => n.startsWith('/') || n.startsWith('./')), 'names relative, without ./').toBe(false)
    expect(sh('tar', ['-tvf', archive])).toMatch(/\nhrw-r--r-- 0\/0 +0 \S+ \S+ meta\/hard-b link to meta\/hard-a\n/)
    const out = scratch('untar')
    mkdirSync(out)
    sh('tar', ['-xpf', archive, '-C', out, '--numeric-owner'])
    expect(manifestOf(out, { ignore: ['lost+found', 'special'] })).toEqual(srcManifest)
    expect(ownersAndTimes(out, ['lost+found'])).toEqual(ownersAndTimes(src))
    expect(statSync(path.join(out, 'meta', 'hard-a')).ino).toBe(statSync(path.join(out, 'meta', 'hard-b')).ino)
    expect(lstatSync(path.join(out, 'special', 'null')).rdev).toBe(lstatSync(path.join(src, 'special', 'null')).rdev)
    expect(lstatSync(path.join(out, 'special', 'fifo')).isFIFO()).toBe(true)
  })

  it('archives a subtree relative to its path, and a file under its own name', async () => {
    const sub = await tool(['tar', `${srcImage}:/meta/read-only`])
    const file = await tool(['tar', `${srcImage}:/meta/private.bin`])
    const list = (bytes: Buffer): string[] => {
      const archive = scratch('sub.tar')
      writeFileSync(archive, bytes)
      return sh('tar', ['-tf', archive]).trim().split('\n')
    }
    expect(list(sub.stdout)).toEqual(['inside'])
    expect(list(file.stdout)).toEqual(['private.bin'])
  })

  it('refuses to write an archive to a terminal (exit 2), as GNU tar does', async () => {
    const run = await tool(['tar', srcImage], { stdoutTTY: true })
    expect(run.status).toBe(2)
    expect(run.stdout.length).toBe(0)
    expect(run.stderr).toMatch(/^uklkl tar: refusing to write archive contents to terminal/)
  })
})

describe('partitions', () => {
  it('--partition N copies into partition N of an MBR disk and lists another', async () => {
    const disk = scratch('disk.img')
    await partitioned(disk, {
      table: 'mbr',
      partitions: [
        { sizeMiB: 8, fill: (part, sizeMiB) => makeVfat(part, { sizeMiB, from: path.join(src, 'meta', 'read-only') }) },
        { sizeMiB: 16, fill: (part, sizeMiB) => makeExt4(part, { sizeMiB }) },
      ],
    })
    expect(await tool(['cp', '-p', '--partition', '2', path.join(src, 'data'), `${disk}:/`])).toMatchObject({ status: 0, stderr: '' })
    const part = scratch('part2.img')
    await extractPartition(disk, 2, part)
    expect((await fsck(part, 'ext4')).clean).toBe(true)
    expect(under((await imageManifest(part)).manifest, 'data')).toEqual(under(srcManifest, 'data'))
    const one = await tool(['ls', '--partition', '1', disk])
    expect(one).toMatchObject({ status: 0, stdout: Buffer.from('inside\n') })
    const three = await tool(['ls', '--partition', '3', disk])
    expect(three.status).toBe(1)
    // With the kernel's own lines: the partitions it found.
    expect(three.stderr).toMatch(new RegExp(`^uklkl ls: cannot mount '${disk}': disk vda has no partition 3: its partition table has no such entry\n(  kernel: .*\n)*  kernel: vda: vda1 vda2\n$`))
  })
})

describe('images that do not open', () => {
  it('a missing image, a directory, a truncated image and zeroes: one clear message, exit 1', async () => {
    const missing = path.join(work, 'missing.img')
    expect(await tool(['ls', missing])).toMatchObject({ status: 1, stderr: `uklkl ls: cannot open image '${missing}': No such file or directory\n` })
    expect(await tool(['cat', `${work}:/x`])).toMatchObject({ status: 1, stderr: `uklkl cat: cannot open image '${work}': Is a directory\n` })

    const truncated = scratch('truncated.img')
    writeFileSync(truncated, readFileSync(srcImage).subarray(0, 4 * MiB))
    const cut = await tool(['ls', truncated])
    expect(cut.status).toBe(1)
    expect(cut.stderr).toMatch(new RegExp(`^uklkl ls: cannot mount '${truncated}': mount /dev/vda \\(ext4\\) on /mnt/vda: EINVAL.*\n(  kernel: .*\n)*  kernel: EXT4-fs \\(vda\\): bad geometry: block count \\d+ exceeds size of device`))

    const zeroes = scratch('zeroes.img')
    writeFileSync(zeroes, '')
    truncateSync(zeroes, 4 * MiB)
    const zero = await tool(['cat', `${zeroes}:/x`])
    expect(zero.status).toBe(1)
    expect(zero.stderr).toMatch(new RegExp(`^uklkl cat: cannot mount '${zeroes}': /dev/vda: no filesystem this kernel knows \\(give fstype to mount it anyway\\)\n(  kernel: .*\n)*$`))
  })

  it('bad usage: a message, the usage line, exit 2', async () => {
    const usage = (name: string, message: string, line: string): string => `uklkl ${name}: ${message}\nusage: uklkl ${name} ${line}\n`
    const cp = '[-p] [--fstype T] [--partition N] [--read-only] SRC... IMG:/DST | IMG:/SRC... DST'
    expect(await tool(['cp'])).toMatchObject({ status: 2, stderr: usage('cp', 'missing file operand', cp) })
    expect(await tool(['cp', 'a'])).toMatchObject({ status: 2, stderr: usage('cp', "missing destination file operand after 'a'", cp) })
    expect(await tool(['cp', '-x', 'a', 'b'])).toMatchObject({ status: 2, stderr: usage('cp', "unrecognized option '-x'", cp) })
    expect(await tool(['cp', path.join(src, 'meta'), scratch('host-to-host')])).toMatchObject({
      status: 2, stderr: usage('cp', 'copy between the host and one image: SRC... IMG:/DST, or IMG:/SRC... DST', cp),
    })
    expect((await tool(['ls', '--partition', '0', srcImage])).stderr).toMatch(/^uklkl ls: invalid partition number '0'\nusage: /)
    expect((await tool(['cat', `${srcImage}:/a`, `${srcImage}x:/b`])).stderr).toMatch(/^uklkl cat: all operands must be in one image\n/)
  })
})

describe('as a process', () => {
  it('exits 0 with the bytes on stdout, 2 for bad usage, 1 for a missing image or a truncated one (no hang)', async () => {
    const cat = await uklkl(['cat', `${srcImage}:/meta/private.bin`])
    expect(cat).toMatchObject({ status: 0, stderr: '' })
    expect(cat.stdout.toString()).toBe('secret\n')
    const image = scratch('process.img')
    await makeExt4(image, { sizeMiB: 8 })
    expect(await uklkl(['cp', '-p', path.join(src, 'meta', 'read-only'), `${image}:/`])).toMatchObject({ status: 0, stderr: '' })
    expect((await uklkl(['ls', '-l', `${image}:/read-only`])).stdout.toString()).toMatch(/^total \d+\n-rw-r--r-- 1 0 0 20 \w{3} [ \d]\d  2001 inside\n$/)
    const usage = await uklkl(['ls'])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toMatch(/^uklkl ls: missing operand\nusage: uklkl ls /)
    const missing = await uklkl(['cat', `${work}/none.img:/x`])
    expect(missing).toMatchObject({ status: 1, stderr: `uklkl cat: cannot open image '${work}/none.img': No such file or directory\n` })
    const truncated = scratch('truncated-process.img')
    writeFileSync(truncated, readFileSync(srcImage).subarray(0, 3 * MiB))
    const cut = await uklkl(['tar', truncated])
    expect(cut.status).toBe(1)
    expect(cut.stdout.length).toBe(0)
    expect(cut.stderr).toMatch(/^uklkl tar: cannot mount /)
    const unknown = await uklkl(['frobnicate'])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toMatch(/^uklkl: unknown command "frobnicate"\nusage: uklkl boot\n/)
  })
})

describe('parts', () => {
  it('IMG:/PATH splits at the first ":/" that leaves a host file on its left', () => {
    const odd = path.join(work, 'odd:')
    mkdirSync(odd, { recursive: true })
    const image = path.join(odd, 'x.img')
    writeFileSync(image, '')
    expect(imageOperand(`${image}:/etc/passwd`, false)).toEqual({ image, path: '/etc/passwd', text: `${image}:/etc/passwd` })
    expect(imageOperand('nofile:/a:/b', false)).toMatchObject({ image: 'nofile', path: '/a:/b' })
    expect(imageOperand(image, false), 'cp: a bare host path is a host path').toBeNull()
    expect(imageOperand(image, true), 'ls, tar: a bare image is its root').toMatchObject({ image, path: '/' })
    expect(imageOperand(`${odd}/`, false), 'an existing host path with ":/" in it').toBeNull()
  })

  it('the progress line: nothing for half a second, then at most every 100 ms, erased before a message and at the end', () => {
    let text = ''
    let clock = 0
    const progress = new Progress({ write: (t: string) => { text += t } }, { files: 4, bytes: 4000 }, 80, () => clock)
    clock = 200
    progress.addBytes(1000)
    progress.fileDone()
    expect(text, 'a short copy prints nothing').toBe('')
    clock = 600
    progress.addBytes(1000)
    expect(text).toBe(`\r${progress.line(600)}\x1b[K`)
    expect(progress.line(600)).toMatch(/^\[#{16}\.{16}\] 50%  2\.0 KiB \/ 3\.9 KiB  1\/4 files  3\.3 KiB\/s$/)
    const drawn = text
    clock = 650
    progress.addBytes(1000)
    expect(text, 'not again within 100 ms').toBe(drawn)
    progress.clear()
    expect(text.endsWith('\r\x1b[K')).toBe(true)
    expect(progress.line(600).length).toBeLessThan(80)
  })
})
