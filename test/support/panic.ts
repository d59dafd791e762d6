// SPDX-License-Identifier: MIT
/**
 * panic.ts - make a real kernel panic, for the tests of what a panic becomes.
 *
 * ramfs pages are never reclaimed and no task can be killed, so writing 64 MiB
 * into a file of a kernel started with 8 MiB of RAM panics it (out of memory and
 * no killable process). Resolves with what the writes ended with: the error, or a
 * string when they all succeeded (which a test then fails on).
 *
 * Limits: the kernel must have been started with memoryMiB: 8.
 */
import type { Kernel } from '../../src/index.js'

export async function panicByFillingRam(k: Kernel): Promise<unknown> {
  const fd = await k.sys.openat(k.constants.AT_FDCWD, '/fill', k.constants.O_CREAT | k.constants.O_RDWR, 0o644)
  const chunk = new Uint8Array(1 << 20)
  try {
    for (let i = 0; i < 64; i++) await k.sys.write(fd, chunk, chunk.length)
    return 'wrote 64 MiB into 8 MiB of RAM'
  } catch (error) {
    return error
  }
}
