// SPDX-License-Identifier: MIT
// WASI programs piped into each other inside the kernel: produce.c | consume.c
// relay | consume.c over kernel pipes (kernelPipe(), fds moved into each
// program), and through a kernel file; the oracle is the same three binaries
// under node:wasi connected through host files. The pattern's hash is also
// computed here, so that both sides are checked against a third.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LinuxError, startKernel } from '../../src/index.js'
import { kernelPipe } from '../../src/wasi/run.js'
import { buildProgram, fnv1a, runKernel, runNode } from '../fixtures/wasi/support.js'

const SIZE = 1 << 20
let work = ''
let produce: Uint8Array<ArrayBuffer>
let consume: Uint8Array<ArrayBuffer>

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-wasi-pipes-'))
  produce = buildProgram('produce', work)
  consume = buildProgram('consume', work)
})

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** FNV-1a of produce.c's pattern of length bytes (byte n is n * 131 + n / 4096). */
function patternHash(length: number): string {
  return fnv1a(Uint8Array.from({ length }, (_, n) => (n * 131 + Math.floor(n / 4096)) & 0xff))
}

describe('pipes between WASI programs', () => {
  it('produce | consume relay | consume over kernel pipes says what node:wasi says through host files', async () => {
    // The oracle: each stage's stdout a host file, the next stage's stdin.
    const first = path.join(work, 'stage1')
    const second = path.join(work, 'stage2')
    const n1 = runNode(produce, work, { args: ['produce', String(SIZE)], stdoutFile: first })
    const n2 = runNode(consume, work, { args: ['consume', 'relay'], stdin: { file: first }, stdoutFile: second })
    const n3 = runNode(consume, work, { args: ['consume'], stdin: { file: second } })
    const hash = patternHash(SIZE)
    expect([n1.stderr, n2.stderr, n3.stdout]).toEqual([
      `produced ${SIZE} bytes, fnv1a ${hash}\n`, `relayed ${SIZE} bytes, fnv1a ${hash}\n`, `consumed ${SIZE} bytes, fnv1a ${hash}\n`,
    ])

    await using k = await startKernel()
    await k.fs.mkdir('/proc')
    await k.sys.mount('proc', '/proc', 'proc', 0, null)
    const a = await kernelPipe(k.sys)
    const b = await kernelPipe(k.sys)
    // The consumer's stdin is the kernel pipe whose write end pid 1 holds until the relay takes it: no JS in between.
    const linkOf = (pid: number | 'self', fd: number): Promise<string> => k.fs.readlink(`/proc/${pid}/fd/${fd}`)
    const bWrite = await linkOf('self', b.write.kernelFd)
    expect(bWrite).toMatch(/^pipe:\[\d+\]$/)
    let consumerStdin = ''
    let spawned = (): void => undefined
    const consumerUp = new Promise<void>((resolve) => {
      spawned = resolve
    })
    const last = runKernel(k, consume, {
      args: ['consume'], stdin: b.read,
      onSpawn: (pid) => void linkOf(pid, 0).then((link) => {
        consumerStdin = link
        spawned()
      }),
    })
    await consumerUp
    expect(consumerStdin).toBe(bWrite)
    const [k1, k2, k3] = await Promise.all([
      runKernel(k, produce, { args: ['produce', String(SIZE)], stdout: a.write }),
      runKernel(k, consume, { args: ['consume', 'relay'], stdin: a.read, stdout: b.write }),
      last,
    ])
    expect([k1, k2, k3]).toEqual([n1, n2, n3])
    expect([k1.code, k2.code, k3.code]).toEqual([0, 0, 0])
    // The ends were moved into the programs: pid 1 holds none of them any more.
    for (const end of [a.read, a.write, b.read, b.write]) {
      await expect(k.sys.fcntl64(end.kernelFd, k.constants.F_GETFD, 0)).rejects.toMatchObject({ code: 'EBADF' })
    }
  })

  it('a kernel file as stdout and as stdin: the bytes land in the kernel\'s filesystem', async () => {
    await using k = await startKernel()
    const c = k.constants
    const out = await k.sys.openat(c.AT_FDCWD, '/stream.bin', c.O_WRONLY | c.O_CREAT | c.O_TRUNC, 0o644)
    const produced = await runKernel(k, produce, { args: ['produce', '300000'], stdout: { kernelFd: out } })
    expect(produced.stderr).toBe(`produced 300000 bytes, fnv1a ${patternHash(300000)}\n`)
    expect((await k.fs.stat('/stream.bin')).size).toBe(300000)
    const input = await k.sys.openat(c.AT_FDCWD, '/stream.bin', c.O_RDONLY, 0)
    const consumed = await runKernel(k, consume, { args: ['consume'], stdin: { kernelFd: input } })
    expect(consumed).toEqual({ code: 0, stdout: `consumed 300000 bytes, fnv1a ${patternHash(300000)}\n`, stderr: '' })
    // A fd pid 1 does not have is refused before the program runs.
    const bad = await k.runWasi(consume, { stdin: { kernelFd: 999 } }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(LinuxError)
    expect(bad).toMatchObject({ code: 'EBADF' })
  })
})
