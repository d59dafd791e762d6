// SPDX-License-Identifier: MIT
// Filesystem syscalls against the host's Linux: fast-check sequences of operations run through Node's fs
// in a host directory and through k.sys in a kernel directory, compared call by call (results and errno).
// What is and is not compared, and why: test/support/fs-differential.ts.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Kernel, startKernel } from '../../src/index.js'
import {
  type FsOp, type FsSide, HostSide, KernelSide, type Outcome, compareSides, describeMismatch, fsProgram, hostScratch,
  hostUmask, isTmpfs,
} from '../support/fs-differential.js'

/** The seeds CI runs; each is a fixed set of sequences, so a red run replays exactly. */
const SEEDS = [1, 2, 3, 4]
/** The seed of the checks on the generator and the comparator themselves. */
const CHECK_SEED = 1
const RUNS_PER_SEED = 25

let k: Kernel
let kernelBase: string
let compareDirSizes: boolean

beforeAll(async () => {
  k = await startKernel()
  await k.sys.umask(hostUmask())
  // A tmpfs of its own, like the host's /dev/shm.
  kernelBase = await k.mountFs('tmpfs', { target: '/differential' })
  const statfs = k.buffer('statfs64')
  await k.sys.statfs64(kernelBase, statfs.length, statfs)
  compareDirSizes = isTmpfs(hostScratch()) && Number(k.decode('statfs64', statfs).f_type) === k.constants.TMPFS_MAGIC
})

afterAll(async () => {
  await k.halt()
})

/** Run ops on fresh roots on both sides (kernel, perhaps wrapped); the mismatch as text, or null. */
async function differ(ops: readonly FsOp[], wrap: (side: FsSide) => FsSide = (side) => side): Promise<string | null> {
  const host = new HostSide(hostScratch(), compareDirSizes)
  const kernel = wrap(await KernelSide.create(k, kernelBase, compareDirSizes))
  try {
    const mismatch = await compareSides(ops, host, kernel)
    return mismatch === null ? null : describeMismatch(mismatch)
  } finally {
    await host.dispose()
    await kernel.dispose()
  }
}

const property = (wrap?: (side: FsSide) => FsSide) => fc.asyncProperty(fsProgram, async (ops) => {
  const mismatch = await differ(ops, wrap)
  if (mismatch !== null) throw new Error(`the kernel and the host differ:\n${mismatch}`)
})

/** A kernel side that answers op kinds its own way: the comparator must notice. */
function sabotaged(change: (op: FsOp, outcome: () => Promise<Outcome>) => Promise<Outcome>) {
  return (side: FsSide): FsSide => ({ run: (op) => change(op, () => side.run(op)), dispose: () => side.dispose() })
}

describe('filesystem syscalls against the host Linux', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: ${RUNS_PER_SEED} sequences give the same results and errno on both`, async () => {
      await fc.assert(property(), { seed, numRuns: RUNS_PER_SEED })
    })
  }

  it('the sequences reach every operation, and both successes and errors', async () => {
    const programs = fc.sample(fsProgram, { seed: CHECK_SEED, numRuns: RUNS_PER_SEED })
    const kinds = new Set(programs.flat().map((op) => op.op))
    expect([...kinds].sort()).toEqual(['chmod', 'close', 'fchmod', 'fstat', 'ftruncate', 'link', 'list', 'lseek', 'lstat',
      'mkdir', 'open', 'pread', 'pwrite', 'read', 'readlink', 'rename', 'rmdir', 'stat', 'symlink', 'unlink', 'write'])
    const codes = new Map<string, number>()
    const host = new HostSide(hostScratch(), compareDirSizes)
    try {
      for (const op of programs.flat()) {
        const outcome = await host.run(op)
        const key = 'errno' in outcome ? outcome.code : 'skipped' in outcome ? 'skipped' : 'ok'
        codes.set(key, (codes.get(key) ?? 0) + 1)
      }
    } finally {
      await host.dispose()
    }
    for (const code of ['ok', 'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'EBADF']) {
      expect(codes.get(code) ?? 0, `outcome ${code} in ${JSON.stringify(Object.fromEntries(codes))}`).toBeGreaterThan(0)
    }
  })

  it('a kernel whose unlink does nothing is caught, with a short sequence that shows it', async () => {
    const quietUnlink = sabotaged(async (op, outcome) => op.op === 'unlink' ? { ok: 0 } : outcome())
    const result = await fc.check(property(quietUnlink), { seed: CHECK_SEED, numRuns: 200 })
    expect(result.failed, 'the comparator missed a kernel that ignores unlink').toBe(true)
    expect(String(result.errorInstance)).toMatch(/unlink/)
    expect(result.counterexample?.[0].length, 'shrunk counterexample').toBeLessThanOrEqual(3)
  })

  it('a kernel that answers EBUSY where Linux says ENOTEMPTY is caught', async () => {
    const wrongErrno = sabotaged(async (_op, outcome) => {
      const real = await outcome()
      return 'errno' in real && real.errno === k.constants.ENOTEMPTY ? { errno: k.constants.EBUSY, code: 'EBUSY' } : real
    })
    const result = await fc.check(property(wrongErrno), { seed: CHECK_SEED, numRuns: 300 })
    expect(result.failed, 'the comparator missed a wrong errno').toBe(true)
    expect(String(result.errorInstance)).toMatch(/host: +ENOTEMPTY \(errno 39\)\n +kernel: EBUSY \(errno 16\)/)
  })
})
