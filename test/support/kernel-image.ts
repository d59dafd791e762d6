// SPDX-License-Identifier: MIT
/**
 * kernel-image.ts - global setup of the kernel project (vitest.config.ts): make sure
 * build/lkl.wasm is current before any test boots it. The kernel build is cached by a
 * hash of its inputs, so this takes seconds when nothing changed; on a fresh machine
 * it is the full build, with its progress on the console.
 *
 * UKLKL_KERNEL_BUILD=0 turns the build off: the suites then use build/ as it is (and
 * fail with "no kernel image" when there is none).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  if (process.env.UKLKL_KERNEL_BUILD === '0') {
    console.log('kernel-image: UKLKL_KERNEL_BUILD=0: no kernel build, build/ is used as it is')
    return
  }
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const result = spawnSync('npm', ['run', '--silent', 'build:kernel'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`npm run build:kernel failed (exit ${result.status ?? result.signal})`)
}
