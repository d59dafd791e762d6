// SPDX-License-Identifier: MIT
// A real client of k.fs that nobody here wrote: isomorphic-git runs init, add, commit
// and log on a repository inside an ext4 image, through openImage's fs. Then the
// repository comes out of the image with `uklkl cp` and the host's own git must accept
// it (git fsck) and show the same history.
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import git from 'isomorphic-git'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { imageTool } from '../../src/cli/image-tools.js'
import { openImage } from '../../src/index.js'
import { makeExt4, toolEnv } from '../support/images.js'

let work: string
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'uklkl-git-'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

describe('isomorphic-git on k.fs', () => {
  it('init, add, commit and log inside an image; the host git accepts the repository', async () => {
    const image = path.join(work, 'repo.img')
    await makeExt4(image, { sizeMiB: 16 })
    const author = { name: 'Ada', email: 'ada@example.org', timestamp: 1_700_000_000, timezoneOffset: 0 }
    const shas: string[] = []
    {
      await using opened = await openImage(image)
      const { fs } = opened
      const dir = '/repo'
      await git.init({ fs, dir, defaultBranch: 'main' })
      for (const [i, text] of ['first\n', 'second\n', 'third\n'].entries()) {
        await fs.mkdir(`${dir}/src`, { recursive: true })
        await fs.writeFile(`${dir}/src/file${i}.txt`, text.repeat(1000))
        await fs.writeFile(`${dir}/README`, `version ${i}\n`)
        await git.add({ fs, dir, filepath: '.' })
        shas.push(await git.commit({ fs, dir, message: `commit ${i}`, author }))
      }
      const log = await git.log({ fs, dir })
      expect(log.map((entry) => entry.oid)).toEqual([...shas].reverse())
      expect(await git.statusMatrix({ fs, dir })).toEqual(
        expect.arrayContaining([['README', 1, 1, 1], ['src/file2.txt', 1, 1, 1]]))
    }
    const out = path.join(work, 'out')
    const io = { stdout: process.stdout, stderr: process.stderr }
    expect(await imageTool('cp', [`${image}:/repo`, out], io)).toBe(0)
    const hostGit = (...args: string[]): string => execFileSync('git', ['-C', out, ...args], { encoding: 'utf8', env: toolEnv })
    hostGit('fsck', '--strict', '--no-dangling')
    expect(hostGit('log', '--format=%H %s', 'main').trim().split('\n'))
      .toEqual(shas.map((sha, i) => `${sha} commit ${i}`).reverse())
    expect(hostGit('status', '--porcelain')).toBe('')
    expect(hostGit('show', 'main:README')).toBe('version 2\n')
  })
})
