// SPDX-License-Identifier: MIT
/**
 * boot-snapshots.ts - where startKernel keeps boot snapshots (Runtime.snapshot):
 * in the process, and in a cache directory on disk, so that a later process loads
 * its first kernel instead of booting it.
 *
 * A snapshot is named by the image's bytes (their SHA-256) and the options that
 * shape a boot (startKernel's snapshotKey); a file also records both, and the
 * format, and is used only when all three match. Files are written whole under a
 * temporary name and renamed, so concurrent processes never read half a file; the
 * directory keeps the MAX_FILES most recently used, the process MAX_IN_PROCESS. The directory is
 * $UKLKL_CACHE_DIR/snapshots, else $XDG_CACHE_HOME/uklkl/snapshots, else
 * ~/.cache/uklkl/snapshots.
 *
 * Limits: a cache that cannot be read or written is no cache (the kernel boots;
 * nothing is reported). A snapshot file is trusted like the image: whoever can
 * write the directory decides what the kernel's memory holds.
 */
import { mkdir, readFile, readdir, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import type { SavedRuntime } from './host-ops/runtime.js'

/** The version of what a saved file holds: a runtime that saves differently bumps it. */
const FORMAT = 3
const MAX_FILES = 32
/** Snapshots kept in the process (about 2 MB each), the most recently used. */
const MAX_IN_PROCESS = 8

/** Where snapshots are kept this process, by file name, least recently used first. */
const inProcess = new Map<string, SavedRuntime>()

function keepInProcess(name: string, saved: SavedRuntime): void {
  inProcess.delete(name)
  inProcess.set(name, saved)
  for (const old of inProcess.keys()) {
    if (inProcess.size <= MAX_IN_PROCESS) break
    inProcess.delete(old)
  }
}

interface SnapshotFile {
  readonly format: number
  readonly image: string
  readonly key: string
  readonly saved: SavedRuntime
}

function cacheDir(): string {
  const base = process.env.UKLKL_CACHE_DIR
    ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'uklkl')
  return path.join(base, 'snapshots')
}

function fileName(image: string, key: string): string {
  return `${createHash('sha256').update(`${FORMAT}\n${image}\n${key}`).digest('hex').slice(0, 32)}.snapshot`
}

/** The snapshot of image (its digest) and key, from this process or, with disk, from the cache directory. */
export async function findBootSnapshot(image: string, key: string, disk: boolean): Promise<SavedRuntime | undefined> {
  const name = fileName(image, key)
  const kept = inProcess.get(name)
  if (kept !== undefined) keepInProcess(name, kept)
  if (kept !== undefined || !disk) return kept
  const file = path.join(cacheDir(), name)
  let found: SnapshotFile
  try {
    found = v8.deserialize(await readFile(file)) as SnapshotFile
  } catch {
    return undefined // none, or unreadable: boot
  }
  if (found.format !== FORMAT || found.image !== image || found.key !== key) return undefined
  keepInProcess(name, found.saved)
  const now = new Date()
  await utimes(file, now, now).catch(() => undefined) // most recently used
  return found.saved
}

/** Drop a snapshot that could not be loaded, here and in the cache directory. */
export async function forgetBootSnapshot(image: string, key: string): Promise<void> {
  const name = fileName(image, key)
  inProcess.delete(name)
  await unlink(path.join(cacheDir(), name)).catch(() => undefined)
}

/** Keep a snapshot for this process and, with disk, for later ones. */
export async function keepBootSnapshot(image: string, key: string, saved: SavedRuntime, disk: boolean): Promise<void> {
  const name = fileName(image, key)
  keepInProcess(name, saved)
  if (!disk) return
  const dir = cacheDir()
  const file: SnapshotFile = { format: FORMAT, image, key, saved }
  const temporary = path.join(dir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}`)
  try {
    await mkdir(dir, { recursive: true })
    await writeFile(temporary, v8.serialize(file))
    await rename(temporary, path.join(dir, name))
    await prune(dir)
  } catch {
    await unlink(temporary).catch(() => undefined) // a read-only or full cache: this process keeps its copy
  }
}

/** Keep the MAX_FILES most recently used snapshots. */
async function prune(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.snapshot'))
  if (names.length <= MAX_FILES) return
  const aged = await Promise.all(names.map(async (n) => ({ n, used: (await stat(path.join(dir, n)).catch(() => null))?.mtimeMs ?? 0 })))
  aged.sort((a, b) => b.used - a.used)
  await Promise.all(aged.slice(MAX_FILES).map(({ n }) => unlink(path.join(dir, n)).catch(() => undefined)))
}
