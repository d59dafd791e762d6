// SPDX-License-Identifier: MIT
/**
 * index.ts - the public API of uklkl: boot a Linux kernel in this process and call
 * its syscalls.
 */
export {
  Kernel, type HostSelftest, type KernelImage, type KernelOptions, type KernelStats, type KernelThread, loadKernelImage,
  startKernel,
} from './kernel.js'
export type { SyscallArgValue, SyscallFn } from './syscalls.js'
export type { FieldValue } from './structs.js'
export type { KernelData, StructLayout, SyscallInfo } from './kernel-data.js'
export {
  AsyncifyOverflowError, DeadlockError, FiberTrapError, HostOpMisuseError, KernelStoppedError, LinuxError,
  PanicError, RuntimeFailedError, StackOverflowError, UklklError,
} from './errors.js'
