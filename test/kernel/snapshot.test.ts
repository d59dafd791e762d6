// SPDX-License-Identifier: MIT
// Boot snapshots: the first kernel of an image and options boots and is saved at rest; the
// next ones, in this process or another, are loaded from that save. A loaded kernel has the
// booted one's threads, runs them (timers, threads, files), keeps its own state, reads its
// clock from where the saved kernel's stood, and gets its own random bytes.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import { describe, expect, it } from 'vitest'
import { type Kernel, type KernelDisk, KernelStoppedError, fileDisk, startKernel } from '../../src/index.js'
import { instantiate } from '../../src/host-ops/index.js'
import { importedMemory } from '../../src/kernel-compile.js'
import { makeExt4, seededTree } from '../support/images.js'

// A cache of this file's own, so that its first kernel boots.
const CACHE = mkdtempSync(path.join(os.tmpdir(), 'uklkl-snapshots-'))
process.env.UKLKL_CACHE_DIR = CACHE

/**
 * Options no other file boots with: this file's first kernel of them boots, the
 * rest load. Boot snapshots are the asyncify build's (a JSPI kernel's blocked
 * threads are V8 stacks): on Node 26 too, these kernels run on it.
 */
const OPTIONS = { memoryMiB: 40, fibers: 'asyncify' } as const

/** The kernel's threads as "pid comm" lines, from its procfs. */
async function threads(k: Kernel): Promise<string[]> {
  const proc = await k.mountFs('proc', { target: '/.test-proc' })
  const pids = (await k.fs.readdir(proc)).filter((name) => /^\d+$/.test(name))
  const lines = await Promise.all(pids.map(async (pid) => `${pid} ${(await k.fs.readFile(`${proc}/${pid}/comm`, 'utf8')).trim()}`))
  await k.sys.umount2(proc, 0)
  return lines.sort()
}

/** CLOCK_MONOTONIC, ms. */
async function monotonicMs(k: Kernel): Promise<number> {
  const ts = new Uint8Array(16)
  await k.sys.clock_gettime64(k.constants.CLOCK_MONOTONIC, ts)
  const view = new DataView(ts.buffer)
  return Number(view.getBigInt64(0, true)) * 1000 + Number(view.getBigInt64(8, true)) / 1e6
}

async function randomHex(k: Kernel): Promise<string> {
  const bytes = new Uint8Array(32)
  expect(await k.sys.getrandom(bytes, bytes.length, 0)).toBe(bytes.length)
  return Buffer.from(bytes).toString('hex')
}

/** A script for a process of its own: it starts a kernel of OPTIONS, writes text to a file and prints what it saw. */
const childScript = (text: string): string => `import { startKernel } from ${JSON.stringify(fileURLToPath(new URL('../../src/index.ts', import.meta.url)))}
const k = await startKernel(${JSON.stringify(OPTIONS)})
await k.fs.writeFile('/f', ${JSON.stringify(text)})
console.log(JSON.stringify({ restored: k.restored, pid: await k.sys.getpid(), text: await k.fs.readFile('/f', 'utf8') }))
await k.halt()`

describe('boot snapshots', () => {
  it('the second kernel of the same options is loaded, with the booted kernel\'s threads, and works', async () => {
    const booted = await startKernel(OPTIONS)
    const loaded = await startKernel(OPTIONS)
    try {
      expect(booted.restored).toBe(false)
      expect(loaded.restored).toBe(true)
      expect(await threads(loaded)).toEqual(await threads(booted))
      expect(loaded.console()).toContain('Linux version')
      // Files, a pipe between two threads, and a sleep on the kernel's timer.
      await loaded.fs.writeFile('/note', 'loaded')
      expect(await loaded.fs.readFile('/note', 'utf8')).toBe('loaded')
      const pipe = new Uint8Array(8)
      await loaded.sys.pipe2(pipe, 0)
      const [rd, wr] = [new DataView(pipe.buffer).getInt32(0, true), new DataView(pipe.buffer).getInt32(4, true)]
      const reader = await loaded.thread()
      const buf = new Uint8Array(5)
      const reading = reader.sys.read(rd, buf, buf.length)
      expect(await loaded.sys.write(wr, new TextEncoder().encode('hello'), 5)).toBe(5)
      expect(await reading).toBe(5)
      expect(new TextDecoder().decode(buf)).toBe('hello')
      const sleep = new Uint8Array(16)
      new DataView(sleep.buffer).setBigInt64(8, 30_000_000n, true)
      const start = performance.now()
      await loaded.sys.clock_nanosleep_time64(loaded.constants.CLOCK_MONOTONIC, 0, sleep, null)
      expect(performance.now() - start).toBeGreaterThanOrEqual(29)
    } finally {
      await Promise.all([booted.halt(), loaded.halt()])
    }
  })

  it('loaded kernels keep their own files, and each gets its own random bytes', async () => {
    const kernels = await Promise.all([startKernel(OPTIONS), startKernel(OPTIONS), startKernel(OPTIONS)])
    try {
      expect(kernels.filter((k) => k.restored).length).toBeGreaterThanOrEqual(2)
      const [a, b] = kernels.filter((k) => k.restored)
      if (a === undefined || b === undefined) throw new Error('two loaded kernels expected')
      await a.fs.writeFile('/only-in-a', 'a')
      await expect(b.fs.readFile('/only-in-a')).rejects.toMatchObject({ code: 'ENOENT' })
      const randoms = await Promise.all(kernels.map(randomHex))
      expect(new Set(randoms).size).toBe(kernels.length)
    } finally {
      await Promise.all(kernels.map((k) => k.halt()))
    }
  })

  it('a loaded kernel\'s clock goes on from the saved kernel\'s, not from the host\'s', async () => {
    const booted = await startKernel(OPTIONS)
    const saved = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 100))
    const waited = performance.now() - saved
    const loaded = await startKernel(OPTIONS)
    try {
      expect(loaded.restored).toBe(true)
      const [bootedMs, loadedMs] = [await monotonicMs(booted), await monotonicMs(loaded)]
      // The booted kernel's clock ran on while the saved one waited to be loaded.
      expect(bootedMs - loadedMs).toBeGreaterThanOrEqual(waited - 5)
      expect(loadedMs).toBeGreaterThan(0)
    } finally {
      await Promise.all([booted.halt(), loaded.halt()])
    }
  })

  it('a new process loads its first kernel from the save on disk, and that kernel works', async () => {
    await (await startKernel(OPTIONS)).halt()
    expect(readdirSync(path.join(CACHE, 'snapshots')).filter((n) => n.endsWith('.snapshot'))).toHaveLength(1)
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', childScript('from another process')],
      { encoding: 'utf8', env: { ...process.env, UKLKL_CACHE_DIR: CACHE }, timeout: 60_000 })
    expect(child.stderr).toBe('')
    expect(JSON.parse(child.stdout)).toEqual({ restored: true, pid: 1, text: 'from another process' })
    // 'process' keeps its save out of the directory.
    const own = await startKernel({ memoryMiB: 44, fibers: 'asyncify', snapshot: 'process' })
    expect(own.restored).toBe(false)
    await own.halt()
    expect(readdirSync(path.join(CACHE, 'snapshots')).filter((n) => n.endsWith('.snapshot'))).toHaveLength(1)
  })

  it('a save on disk that does not fit is dropped, and the kernel boots (and saves again)', async () => {
    const dir = path.join(CACHE, 'snapshots')
    const files = readdirSync(dir).filter((n) => n.endsWith('.snapshot'))
    expect(files).toHaveLength(1)
    const file = path.join(dir, files[0] ?? '')
    // A save whose user arena lies elsewhere, as a save of another version of the runtime might.
    const record = v8.deserialize(readFileSync(file)) as { saved: { arena: { start: number } } }
    record.saved.arena.start += 4096
    writeFileSync(file, v8.serialize(record))
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', childScript('restored')],
      { encoding: 'utf8', env: { ...process.env, UKLKL_CACHE_DIR: CACHE }, timeout: 60_000 })
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout)).toEqual({ restored: false, pid: 1, text: 'restored' })
    const again = v8.deserialize(readFileSync(file)) as { saved: { arena: { start: number } } }
    expect(again.saved.arena.start).toBe(record.saved.arena.start - 4096)
  })

  it('a halted kernel\'s memory, which the next kernel may get, is out of reach of what its users kept', async () => {
    const first = await startKernel(OPTIONS)
    const buffer = first.alloc(16)
    buffer.bytes.set([1, 2, 3])
    const view = buffer.bytes
    expect(await first.halt()).toBe(0)
    expect(view.length).toBe(0)
    expect(() => buffer.bytes).toThrow(KernelStoppedError)
    const next = await startKernel(OPTIONS)
    try {
      expect(next.restored).toBe(true)
      const own = next.alloc(16)
      expect(own.bytes.length).toBe(16)
      await next.fs.writeFile('/after', 'works')
      expect(await next.fs.readFile('/after', 'utf8')).toBe('works')
    } finally {
      await next.halt()
    }
  })

  it('a runtime released twice gives its memory back once, detached only if it lent views: no two runtimes ever share one', async () => {
    const bytes = readFileSync(fileURLToPath(new URL('../../build/lkl.wasm', import.meta.url)))
    const module = new WebAssembly.Module(bytes)
    const memoryLimits = importedMemory(bytes)
    if (memoryLimits === null) throw new Error('the kernel image imports no memory')
    const options = { memoryLimits, userMemoryBytes: 16 << 20 }
    const first = await instantiate(module, options)
    const cmdline = new TextEncoder().encode('mem=32M\0')
    const arg = first.userMemory.alloc(cmdline.length)
    first.userMemory.write(arg, cmdline)
    expect(await first.call('kernel_start', [arg])).toBe(0)
    first.userMemory.free(arg)
    await new Promise((resolve) => setImmediate(resolve))
    const saved = first.snapshot()
    first.close(new Error('closed by the test'))
    // It lent no view of its memory: the buffer stays as it is (detaching costs V8 a collection).
    const memory = first.instance.exports.memory
    if (!(memory instanceof WebAssembly.Memory)) throw new Error('the kernel exports no memory')
    const firstBuffer = memory.buffer
    first.release()
    expect(memory.buffer).toBe(firstBuffer)
    const second = await instantiate(module, { ...options, restore: saved })
    expect(second.instance.exports.memory).toBe(first.instance.exports.memory)
    first.release()
    const third = await instantiate(module, { ...options, restore: saved })
    expect(third.instance.exports.memory).not.toBe(second.instance.exports.memory)
    // A view lent to a user (a KernelBuffer's bytes) is emptied when the memory goes back.
    const lent = second.userMemory.view(second.userMemory.alloc(16), 16)
    second.close(new Error('closed by the test'))
    second.release()
    expect(lent.length).toBe(0)
    third.close(new Error('closed by the test'))
  })

  it('a kernel loaded into a halted kernel\'s memory sees none of that kernel\'s files', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `/ghost-${i}`)
    const first = await startKernel(OPTIONS)
    for (const name of names) await first.fs.writeFile(name, name)
    await first.halt()
    // The next kernels are loaded into the memory the first one filled with dentries, inodes and pages.
    for (let round = 0; round < 2; round++) {
      const next = await startKernel(OPTIONS)
      try {
        expect(next.restored).toBe(true)
        expect((await next.fs.readdir('/')).filter((n) => n.startsWith('ghost-'))).toEqual([])
        for (const name of names) await expect(next.fs.stat(name)).rejects.toMatchObject({ code: 'ENOENT' })
        for (const name of names.slice(0, 50)) await next.fs.writeFile(name, `new ${name}`)
        for (const name of names.slice(0, 50)) expect(await next.fs.readFile(name, 'utf8')).toBe(`new ${name}`)
      } finally {
        await next.halt()
      }
    }
  })

  it('snapshot: false or a seed boots afresh', async () => {
    await (await startKernel(OPTIONS)).halt()
    for (const options of [{ snapshot: false }, { seed: 7 }]) {
      const k = await startKernel({ ...OPTIONS, ...options })
      expect(k.restored, Object.keys(options).join()).toBe(false)
      await k.halt()
    }
  })
})

describe('devices of a kernel that runs', () => {
  /** An ext4 image of a seeded tree, made by mke2fs -d, and the SHA-256 of each of the tree's files as the host reads them. */
  async function treeImage(name: string, seed: number): Promise<{ image: string, files: Record<string, string> }> {
    const tree = path.join(CACHE, `${name}-tree`)
    const manifest = seededTree(tree, { seed, files: 12, totalBytes: 96 * 1024, dirs: 3 })
    const image = path.join(CACHE, `${name}.img`)
    await makeExt4(image, { sizeMiB: 8, from: tree })
    return { image, files: Object.fromEntries(Object.entries(manifest).flatMap(([where, entry]) => (entry.type === 'file' ? [[where, entry.sha256]] : []))) }
  }

  /** The SHA-256 of every file of the tree as the kernel reads it from the mounted disk. */
  async function kernelFiles(k: Kernel, disk: KernelDisk, files: Record<string, string>): Promise<Record<string, string>> {
    const target = await k.mount(disk, { readOnly: true })
    const read: Record<string, string> = {}
    for (const relative of Object.keys(files)) {
      read[relative] = createHash('sha256').update(await k.fs.readFile(`${target}/${relative}`)).digest('hex')
    }
    return read
  }

  it('a loaded kernel gets its disk plugged in running, and reads what a booted kernel and the host read', async () => {
    const { image, files } = await treeImage('a', 1)
    expect(Object.values(files).length).toBeGreaterThan(0)
    await (await startKernel(OPTIONS)).halt()
    const loaded = await startKernel({ ...OPTIONS, disks: [fileDisk(image, { readOnly: true })] })
    const booted = await startKernel({ ...OPTIONS, snapshot: false, disks: [fileDisk(image, { readOnly: true })] })
    try {
      expect([loaded.restored, booted.restored]).toEqual([true, false])
      for (const k of [loaded, booted]) {
        const [disk] = k.disks
        if (disk === undefined) throw new Error('no disk')
        expect(disk.name).toBe('vda')
        expect((await k.fs.stat('/dev/vda')).isBlockDevice()).toBe(true)
        expect(await kernelFiles(k, disk, files)).toEqual(files)
      }
    } finally {
      await Promise.all([loaded.halt(), booted.halt()])
    }
  })

  it('addDisk plugs a second disk into a running kernel as vdb; a bad backend is an error and the kernel goes on', async () => {
    const [first, second] = [await treeImage('b', 2), await treeImage('c', 3)]
    const k = await startKernel({ ...OPTIONS, disks: [fileDisk(first.image, { readOnly: true })] })
    try {
      const added = await k.addDisk(fileDisk(second.image, { readOnly: true }))
      expect(added.name).toBe('vdb')
      expect(k.disks.map((d) => d.name)).toEqual(['vda', 'vdb'])
      expect(await kernelFiles(k, added, second.files)).toEqual(second.files)
      await expect(k.addDisk(fileDisk(path.join(CACHE, 'missing.img')))).rejects.toMatchObject({ code: 'ENOENT' })
      expect(k.disks).toHaveLength(2)
      const [vda] = k.disks
      if (vda === undefined) throw new Error('no vda')
      expect(await kernelFiles(k, vda, first.files)).toEqual(first.files)
    } finally {
      await k.halt()
    }
  })
})
