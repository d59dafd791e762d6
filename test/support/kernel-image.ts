// SPDX-License-Identifier: MIT
/**
 * kernel-image.ts - global setup of the kernel project (vitest.config.ts): make sure
 * the disk tests' oracles are installed (scripts/install-toolchain.sh --test-tools:
 * e2fsprogs, dosfstools, mtools, sfdisk, git, btrfs-progs, xfsprogs) and that
 * build/lkl.wasm and one image with the fragments the tests use, btrfs, ipv6 and xfs
 * (build/with-btrfs-ipv6-xfs/, for test/kernel/fragments.test.ts), are current before
 * any test boots them: one fragment image, not one per fragment, saves CI a finishing
 * step. The kernel builds are cached by a hash of their inputs, so this takes seconds
 * when nothing changed; on a fresh machine it is a full build and a fragment build on
 * top of its objects, with their progress on the console. Then dist/, the package's
 * code (npm run build, seconds), which the package and README suites load: built once
 * here, not by each of them at the same time.
 *
 * The install follows the script's rules: as root it installs what is missing, with
 * sudo if sudo is usable, and otherwise it names the packages and the setup fails.
 * UKLKL_KERNEL_BUILD=0 turns the build off (not the tools check): the suites then use
 * build/ as it is (and fail with "no kernel image" when there is none).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { toolEnv } from './images.js'

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  // toolEnv: the script looks only on PATH, and Debian leaves /usr/sbin (mke2fs, sfdisk) off a non-root PATH.
  const tools = spawnSync('bash', ['scripts/install-toolchain.sh', '--test-tools'], { cwd: root, env: toolEnv, stdio: 'inherit' })
  if (tools.status !== 0) {
    throw new Error(`scripts/install-toolchain.sh --test-tools failed (exit ${tools.status ?? tools.signal}): the disk tests' tools are missing (see the messages above)`)
  }
  const builds = process.env.UKLKL_KERNEL_BUILD === '0' ? [] : [['build:kernel'], ['build:kernel', '--', '--with', 'btrfs,ipv6,xfs']]
  if (builds.length === 0) console.log('kernel-image: UKLKL_KERNEL_BUILD=0: no kernel build, build/ is used as it is')
  for (const args of [...builds, ['build']]) {
    const result = spawnSync('npm', ['run', '--silent', ...args], { cwd: root, stdio: 'inherit' })
    if (result.status !== 0) throw new Error(`npm run ${args.join(' ')} failed (exit ${result.status ?? result.signal})`)
  }
}
