// SPDX-License-Identifier: MIT
/**
 * lock.ts - one writer per image across processes: a lock file per image in the
 * host's temporary directory, named by the image's device and inode (so every path
 * to the same file meets the same lock), holding the writer's pid.
 *
 * A writer creates the file exclusively; a reader only checks that no live writer
 * holds it. A lock whose process is gone (a crash) is stale and taken over.
 *
 * Taking and dropping a lock are synchronous calls: each is a few microseconds of
 * metadata work on a local directory, where the thread pool's round trips cost
 * 0.2-1 ms apiece (an image's open went from 2-7 ms to under 1).
 *
 * Limits: advisory, and only among uklkl processes on one machine (Node has no
 * flock); readers do not keep a writer out.
 */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ImageLockedError } from '../../errors.js'

export interface ImageLock {
  release(): void
}

const LOCK_DIR = join(tmpdir(), 'uklkl-locks')

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists, it is just not ours.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The pid of the live writer holding lockPath, or null (no lock, or a stale one). */
function holder(lockPath: string): number | null {
  let text: string
  try {
    text = readFileSync(lockPath, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  const pid = Number.parseInt(text, 10)
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null
}

export function lockImage(realPath: string, mode: 'read' | 'write'): ImageLock {
  const { dev, ino } = statSync(realPath)
  mkdirSync(LOCK_DIR, { recursive: true })
  const lockPath = join(LOCK_DIR, `${dev}-${ino}.lock`)
  if (mode === 'read') {
    const pid = holder(lockPath)
    if (pid !== null) throw new ImageLockedError(realPath, pid)
    return { release: () => {} }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = holder(lockPath)
      if (pid !== null || attempt > 0) throw new ImageLockedError(realPath, pid ?? 0)
      // Stale: its writer is gone. Take it over (once; a second failure means a race lost).
      unlinkLock(lockPath)
    }
  }
  let released = false
  return {
    release() {
      if (released) return
      released = true
      unlinkLock(lockPath)
    },
  }
}

/** Remove a lock file; one already gone is what was wanted. */
function unlinkLock(lockPath: string): void {
  try {
    unlinkSync(lockPath)
  } catch {
    // Nothing to undo: another process took the stale lock first, or it never existed.
  }
}
