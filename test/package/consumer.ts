// SPDX-License-Identifier: MIT
/**
 * consumer.ts - what a TypeScript user of the installed package writes, type-checked
 * (never run) by pack.test.ts against the packed .d.ts under strict flags:
 * strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, skipLibCheck false,
 * lib ES2022 only (no DOM). It uses no `!` and no cast: every syscall, constant and
 * struct field it touches must be typed by the package itself. The @ts-expect-error
 * lines fail the check if the API loosens to strings and `any`.
 *
 * It is excluded from the repo's own tsconfig: 'uklkl' resolves only in the
 * temporary project pack.test.ts installs the tarball into.
 */
import { type FiberBackend, LinuxError, startKernel } from 'uklkl'

const k = await startKernel({ memoryMiB: 32 })
const fibers: FiberBackend = k.image.fibers
// @ts-expect-error: there is no such fiber backend
await startKernel({ fibers: 'threads' })
try {
  const pid: number = await k.sys.getpid()
  const { AT_FDCWD, O_CREAT } = k.constants
  const O_RDWR: number = k.constants.O_RDWR
  const fd: number = await k.sys.openat(AT_FDCWD, '/hello', O_CREAT | O_RDWR, 0o644)
  const written: number = await k.sys.write(fd, new TextEncoder().encode('hi'), 2)
  const st = k.buffer('stat64')
  await k.sys.fstat64(fd, st)
  const size: bigint = k.decode('stat64', st).st_size
  const missing = await k.sys.openat(AT_FDCWD, '/nope', O_RDWR, 0).catch((error: unknown) =>
    error instanceof LinuxError ? error.code : 'unexpected')
  console.log(pid, written, size, missing, fibers)

  // @ts-expect-error: there is no such syscall
  await k.sys.no_such_syscall()
  // @ts-expect-error: a path is a string or bytes, not a number
  await k.sys.openat(AT_FDCWD, 42, O_RDWR, 0)
  // @ts-expect-error: there is no such struct
  k.buffer('no_such_struct')
  // @ts-expect-error: there is no such constant
  console.log(k.constants.NO_SUCH_CONSTANT)
} finally {
  await k.halt()
}
