// SPDX-License-Identifier: MIT
/**
 * kernel-image.ts - vitest global setup: make sure build/lkl.wasm is current before
 * any test boots it. The kernel build is cached by a hash of its inputs, so this
 * takes seconds when nothing changed; on a fresh machine it is the full build, with
 * its progress on the console.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const result = spawnSync('npm', ['run', '--silent', 'build:kernel'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`npm run build:kernel failed (exit ${result.status ?? result.signal})`)
}
