// SPDX-License-Identifier: MIT
/**
 * lock.ts - one writer per image across processes: a lock file per image in the
 * host's temporary directory, named by the image's device and inode (so every path
 * to the same file meets the same lock), holding the writer's pid.
 *
 * A writer creates the file exclusively; a reader only checks that no live writer
 * holds it. A lock whose process is gone (a crash) is stale and taken over.
 *
 * Limits: advisory, and only among uklkl processes on one machine (Node has no
 * flock); readers do not keep a writer out.
 */
import { open, readFile, stat, unlink, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ImageLockedError } from '../../errors.js'

export interface ImageLock {
  release(): Promise<void>
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
async function holder(lockPath: string): Promise<number | null> {
  let text: string
  try {
    text = await readFile(lockPath, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  const pid = Number.parseInt(text, 10)
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null
}

export async function lockImage(realPath: string, mode: 'read' | 'write'): Promise<ImageLock> {
  const { dev, ino } = await stat(realPath)
  await mkdir(LOCK_DIR, { recursive: true })
  const lockPath = join(LOCK_DIR, `${dev}-${ino}.lock`)
  if (mode === 'read') {
    const pid = await holder(lockPath)
    if (pid !== null) throw new ImageLockedError(realPath, pid)
    return { release: async () => {} }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const file = await open(lockPath, 'wx')
      await file.writeFile(`${process.pid}\n`)
      await file.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = await holder(lockPath)
      if (pid !== null || attempt > 0) throw new ImageLockedError(realPath, pid ?? 0)
      // Stale: its writer is gone. Take it over (once; a second failure means a race lost).
      await unlink(lockPath).catch(() => undefined)
    }
  }
  let released = false
  return {
    async release() {
      if (released) return
      released = true
      await unlink(lockPath).catch(() => undefined)
    },
  }
}
