// SPDX-License-Identifier: MIT
/**
 * fs/index.ts - k.fs: the shape of node:fs/promises over a kernel's VFS.
 *
 * kernelFs(k) gives readFile, writeFile, mkdir, readdir, stat, open (a
 * FileHandle) and the rest with Node's arguments, results and errors (FsError:
 * code, errno, syscall, path, dest, Node's message). With { root }, every path
 * resolves inside that kernel directory as if it were "/" (openat2's
 * RESOLVE_IN_ROOT), symlinks and ".." included; close() then releases the root.
 * What each part does and its limits: kernel-fs.ts, context.ts, handle.ts.
 */
import type { Kernel } from '../kernel.js'
import { KernelFs } from './kernel-fs.js'

export interface KernelFsOptions {
  /** The kernel directory paths resolve under; '/' (the kernel's root) by default. */
  root?: string
}

/** Node's fs/promises over k's VFS, rooted at options.root. */
export function kernelFs(k: Kernel, options: KernelFsOptions = {}): KernelFs {
  return new KernelFs(k, options.root ?? '/')
}

export { KernelFs, type KernelFsConstants, type MakeDirectoryOptions, type ReaddirOptions, type RmOptions } from './kernel-fs.js'
export {
  KernelFileHandle, type ReadFileOptions, type ReadOptions, type ReadPlacement, type ReadResult, type StatOptions,
  type WriteFileOptions, type WriteResult,
} from './handle.js'
export { BigIntStats, Dirent, Stats } from './stats.js'
export { FsError, type FsErrorFields } from './errors.js'
export type { Mode, OpenFlags, TimeLike } from './flags.js'
export type { Position } from './context.js'
