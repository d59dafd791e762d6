// SPDX-License-Identifier: MIT
/**
 * install-toolchain.test.ts - scripts/install-toolchain.sh on a machine that lacks
 * some of the kernel build's host tools, simulated: PATH is a folder of links to this
 * machine's commands minus the ones a case hides, and apt-get, id and sudo are small
 * fakes that record what they were asked.
 *
 * Limits: the header and file checks (libelf.h, the source tarball, clang's wasm32
 * runtime) look at fixed paths, so these cases can only hide commands. The fake
 * apt-get "installs" rsync and bc only.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../scripts/install-toolchain.sh', import.meta.url))
const systemBins = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']

interface Machine {
  bin: string
  aptLog: string
  /** Run the installer; returns its exit status, its messages and the apt-get calls it made. */
  install(args: string[]): { status: number | null; stderr: string; apt: string[] }
}

const machines: string[] = []
afterEach(() => {
  for (const dir of machines.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/**
 * A PATH with every command of this machine but those hidden (and never the real
 * apt-get, sudo or id). aptInstalls: whether the fake apt-get provides rsync and bc.
 */
function machine(options: { hide: string[]; uid: number; aptInstalls: boolean }): Machine {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'uklkl-toolchain-test-'))
  machines.push(dir)
  const bin = path.join(dir, 'bin')
  mkdirSync(bin)
  const excluded = new Set([...options.hide, 'apt-get', 'sudo', 'id'])
  for (const sys of systemBins) {
    if (!existsSync(sys)) continue
    for (const name of readdirSync(sys)) {
      if (!excluded.has(name) && !existsSync(path.join(bin, name))) symlinkSync(path.join(sys, name), path.join(bin, name))
    }
  }
  const aptLog = path.join(dir, 'apt.log')
  const fake = (name: string, body: string): void => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`)
    chmodSync(path.join(bin, name), 0o755)
  }
  fake('id', `echo ${options.uid}`)
  const provide = options.aptInstalls
    ? `for p in "$@"; do case $p in rsync|bc) ln -s /usr/bin/$p ${bin}/$p;; esac; done`
    : ':'
  fake('apt-get', `echo "$*" >> ${aptLog}\n[ "$1" = install ] && { ${provide}; }\nexit 0`)
  return {
    bin,
    aptLog,
    install(args) {
      rmSync(aptLog, { force: true })
      const r = spawnSync('/bin/bash', [script, ...args], { env: { PATH: bin }, encoding: 'utf8' })
      const apt = existsSync(aptLog) ? readFileSync(aptLog, 'utf8').trim().split('\n') : []
      return { status: r.status, stderr: r.stderr, apt }
    },
  }
}

describe('install-toolchain.sh', () => {
  it('as root, installs what the kernel build misses with one apt-get update and one install', () => {
    const m = machine({ hide: ['rsync', 'bc'], uid: 0, aptInstalls: true })
    const first = m.install(['--kernel'])
    expect(first.status, first.stderr).toBe(0)
    expect(first.apt).toEqual(['update -qq', 'install -y -qq --no-install-recommends bc rsync'])
    expect(first.stderr).toContain('missing bc, rsync')
    expect(existsSync(path.join(m.bin, 'rsync')), 'rsync is there afterwards').toBe(true)

    const again = m.install(['--kernel'])
    expect(again.status, again.stderr).toBe(0)
    expect(again.apt, 'a second run finds everything and calls no apt-get').toEqual([])
  })

  it('without --kernel, asks only for the wasm32 toolchain', () => {
    const m = machine({ hide: ['rsync', 'bc'], uid: 0, aptInstalls: true })
    const r = m.install([])
    expect(r.status, r.stderr).toBe(0)
    expect(r.apt).toEqual([])
  })

  it('maps each missing LLVM tool to its pinned package', () => {
    const m = machine({ hide: ['wasm-ld-19', 'llvm-nm-19', 'ld.lld-19'], uid: 0, aptInstalls: false })
    const r = m.install(['--kernel'])
    expect(r.apt[1]).toBe('install -y -qq --no-install-recommends lld-19 llvm-19')
  })

  it('not root and no sudo: names the packages and installs nothing', () => {
    const m = machine({ hide: ['rsync', 'bc'], uid: 1000, aptInstalls: true })
    const r = m.install(['--kernel'])
    expect(r.status).toBe(1)
    expect(r.apt).toEqual([])
    expect(r.stderr).toContain('apt-get install -y --no-install-recommends bc rsync')
  })

  it('fails clearly when a package installs but its tool is still missing', () => {
    const m = machine({ hide: ['rsync'], uid: 0, aptInstalls: false })
    const r = m.install(['--kernel'])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('still missing after the install: rsync')
  })

  it('rejects an unknown argument', () => {
    const m = machine({ hide: [], uid: 0, aptInstalls: false })
    const r = m.install(['--kernal'])
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('usage:')
  })
})
