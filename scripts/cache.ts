// SPDX-License-Identifier: MIT
/**
 * cache.ts - build outputs cached by a hash of their inputs, outside the clone.
 *
 * The cache lives in $UKLKL_CACHE, else $XDG_CACHE_HOME/uklkl, else ~/.cache/uklkl.
 * A key hashes labelled strings and file contents; anything not fed to the hasher
 * does not invalidate the cache, so callers list every input (sources, headers,
 * flags, tool versions, the build scripts themselves).
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { repoRoot } from './toolchain.js'

export function cacheRoot(): string {
  const root = process.env.UKLKL_CACHE
    ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'uklkl')
  mkdirSync(root, { recursive: true })
  return root
}

/** A cache subdirectory, created on demand. */
export function cacheDir(name: string): string {
  const dir = path.join(cacheRoot(), name)
  mkdirSync(dir, { recursive: true })
  return dir
}

/** Accumulates the inputs of one build step into a short hex key. */
export class InputHash {
  readonly #hash = createHash('sha256')

  text(label: string, value: string): this {
    this.#hash.update(`${label}\0${value.length}\0${value}\0`)
    return this
  }

  file(file: string): this {
    const bytes = readFileSync(file)
    // Named relative to the repo, so that every clone computes the same key.
    const name = path.relative(repoRoot, file)
    this.#hash.update(`file\0${name}\0${bytes.length}\0`).update(bytes)
    return this
  }

  /** Every file under dir (sorted, recursively) whose name passes keep. */
  tree(dir: string, keep: (name: string) => boolean = () => true): this {
    for (const entry of readdirSync(dir).sort()) {
      const full = path.join(dir, entry)
      if (statSync(full).isDirectory()) this.tree(full, keep)
      else if (keep(entry)) this.file(full)
    }
    return this
  }

  key(): string {
    return this.#hash.digest('hex').slice(0, 24)
  }
}
