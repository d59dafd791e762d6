// SPDX-License-Identifier: MIT
/**
 * install-toolchain.test.ts - scripts/install-toolchain.sh on a machine that lacks
 * some of the kernel build's host tools, simulated: PATH is a folder of links to this
 * machine's commands minus the ones a case hides, and apt-get, id and sudo are small
 * fakes that record what they were asked.
 *
 * Limits: the header and file checks (libelf.h, the source tarball, clang's wasm32
 * runtime) look at fixed paths, so these cases can only hide commands. The fake
 * apt-get "installs" only the packages of FAKE_APT (by linking this machine's
 * commands back in), and the --test-tools cases need those tools on this machine.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../scripts/install-toolchain.sh', import.meta.url))
const systemBins = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']

/** What --test-tools must check, each with the Debian package the script must name for it. */
const TEST_TOOLS: readonly { tool: string; pkg: string }[] = [
  { tool: 'mke2fs', pkg: 'e2fsprogs' },
  { tool: 'e2fsck', pkg: 'e2fsprogs' },
  { tool: 'debugfs', pkg: 'e2fsprogs' },
  { tool: 'mkfs.vfat', pkg: 'dosfstools' },
  { tool: 'fsck.vfat', pkg: 'dosfstools' },
  { tool: 'mcopy', pkg: 'mtools' },
  { tool: 'mdir', pkg: 'mtools' },
  { tool: 'sfdisk', pkg: 'fdisk' },
  { tool: 'git', pkg: 'git' },
  { tool: 'passt', pkg: 'passt' },
]

/** The packages the fake apt-get can install, and the commands each brings. */
const FAKE_APT: Readonly<Record<string, readonly string[]>> = {
  rsync: ['rsync'],
  bc: ['bc'],
  mtools: ['mcopy', 'mdir'],
  fdisk: ['sfdisk'],
}

/** This machine's copy of a command, from the system directories. */
function systemCommand(name: string): string {
  for (const sys of systemBins) {
    if (existsSync(path.join(sys, name))) return path.join(sys, name)
  }
  throw new Error(`${name} is not installed on this machine (scripts/install-toolchain.sh --test-tools installs it)`)
}

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
 * apt-get, sudo or id). aptInstalls: whether the fake apt-get provides FAKE_APT's packages.
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
  const links = (pkg: string): string =>
    (FAKE_APT[pkg] ?? []).map((name) => `ln -s ${systemCommand(name)} ${path.join(bin, name)}`).join('; ')
  const provide = options.aptInstalls
    ? `for p in "$@"; do case $p in ${Object.keys(FAKE_APT).map((pkg) => `${pkg}) ${links(pkg)};;`).join(' ')} esac; done`
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

  it.each(TEST_TOOLS)('--test-tools: a missing $tool is asked of Debian as $pkg', ({ tool, pkg }) => {
    const m = machine({ hide: [tool], uid: 0, aptInstalls: false })
    const r = m.install(['--test-tools'])
    expect(r.stderr).toContain(`missing ${tool} (Debian packages: ${pkg})`)
    expect(r.apt).toEqual(['update -qq', `install -y -qq --no-install-recommends ${pkg}`])
  })

  it('--test-tools: as root, installs every missing package with one update and one install', () => {
    const m = machine({ hide: ['mcopy', 'mdir', 'sfdisk'], uid: 0, aptInstalls: true })
    const first = m.install(['--test-tools'])
    expect(first.status, first.stderr).toBe(0)
    expect(first.stderr).toContain('missing mcopy, mdir, sfdisk (Debian packages: mtools fdisk)')
    expect(first.apt).toEqual(['update -qq', 'install -y -qq --no-install-recommends mtools fdisk'])
    const again = m.install(['--test-tools'])
    expect(again.status, again.stderr).toBe(0)
    expect(again.apt, 'a second run finds everything and calls no apt-get').toEqual([])
  })

  it('--test-tools checks only the test tools, and the other modes never ask for them', () => {
    const noCompiler = machine({ hide: ['clang-19', 'rsync'], uid: 0, aptInstalls: false })
    const tools = noCompiler.install(['--test-tools'])
    expect(tools.status, tools.stderr).toBe(0)
    expect(tools.apt).toEqual([])
    const noTestTools = machine({ hide: TEST_TOOLS.map(({ tool }) => tool), uid: 0, aptInstalls: false })
    for (const args of [[], ['--kernel']]) {
      const r = noTestTools.install(args)
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      expect(r.apt).toEqual([])
    }
  })

  it('--test-tools, not root and no sudo: names the packages and installs nothing', () => {
    const m = machine({ hide: ['mke2fs', 'sfdisk'], uid: 1000, aptInstalls: true })
    const r = m.install(['--test-tools'])
    expect(r.status).toBe(1)
    expect(r.apt).toEqual([])
    expect(r.stderr).toContain('apt-get install -y --no-install-recommends e2fsprogs fdisk')
  })

  it('rejects an unknown argument', () => {
    const m = machine({ hide: [], uid: 0, aptInstalls: false })
    for (const args of [['--kernal'], ['--kernel', '--test-tools']]) {
      const r = m.install(args)
      expect(r.status, args.join(' ')).toBe(2)
      expect(r.stderr).toContain('usage:')
    }
  })
})
