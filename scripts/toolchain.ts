// SPDX-License-Identifier: MIT
/**
 * toolchain.ts - where the pinned LLVM toolchain is and how to get it.
 *
 * uklkl compiles C for wasm32 with Debian's clang/lld of one major version
 * (LLVM_MAJOR, kept in step with install-toolchain.sh). ensureToolchain() checks
 * every host tool the build runs and installs the packages of those missing; the
 * first call on a fresh machine takes a minute, later ones are free.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

export const LLVM_MAJOR = 19

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The versioned name of an LLVM tool, e.g. llvmTool('clang') is 'clang-19'. */
export function llvmTool(name: 'clang' | 'wasm-ld' | 'llvm-ar' | 'llvm-nm' | 'llvm-objcopy'): string {
  return `${name}-${LLVM_MAJOR}`
}

/** clang's runtime for wasm32 (__multi3 and friends). */
export const wasmBuiltinsArchive =
  `/usr/lib/llvm-${LLVM_MAJOR}/lib/clang/${LLVM_MAJOR}/lib/wasi/libclang_rt.builtins-wasm32.a`

let ensured: string | undefined

/**
 * Install the toolchain if needed (pass kernel=true for the kernel's extra
 * packages) and return the clang version line, which is part of every cache key.
 */
export function ensureToolchain(kernel = false): string {
  if (ensured !== undefined && !kernel) return ensured
  const script = path.join(repoRoot, 'scripts/install-toolchain.sh')
  const result = spawnSync('bash', [script, ...(kernel ? ['--kernel'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (result.status !== 0) {
    const what = kernel ? 'the kernel build' : `the LLVM ${LLVM_MAJOR} wasm32 toolchain`
    throw new Error(`uklkl: host tools for ${what} are missing and could not be installed (see the messages above)`)
  }
  ensured = execFileSync(llvmTool('clang'), ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? ''
  return ensured
}
