// SPDX-License-Identifier: MIT
/**
 * index.ts - the public API of uklkl: boot a Linux kernel in this process and call
 * its syscalls.
 */
export {
  type HaltOptions, Kernel, type HostSelftest, type KernelImage, type KernelOptions, type KernelStats, type KernelThread, type MountOptions,
  type KernelTiering, type LoadImageOptions, type RawSyscallArg, type SchedulerTuning, loadKernelImage, startKernel,
} from './kernel.js'
export { type BlockBackend, type FileDiskOptions, fileDisk, memoryDisk, overlayDisk } from './devices/block/backends.js'
export type { BlockStats } from './devices/block/virtio-blk.js'
export {
  type MacAddress, NetSwitch, type NicOptions, type StreamSocketOptions, type StreamSocketStats, type SwitchStats, netSwitch, nic,
  streamSocket,
} from './devices/net/backends.js'
export { type PasstBackend, type PasstGuest, type PasstOptions, type PortForward, passtNic } from './devices/net/passt.js'
export type { NetBackend, NetPort, NetStats } from './devices/net/virtio-net.js'
export type { Frame, Offload } from './devices/net/frame.js'
export {
  type ConnectOptions, type InterfaceAddress, type InterfaceRef, KernelNet, KernelNic, KernelServer, KernelSocket, type ListenOptions,
  type NetInterface, type RouteOptions, type SocketAddress, DhcpError, type DhcpLease, type DhcpOptions,
} from './net/index.js'
export { type DiskMountOptions, KernelDisk } from './disk.js'
export { type OpenImageOptions, type OpenedImage, openImage } from './image.js'
export {
  BigIntStats, Dirent, FsError, KernelFileHandle, KernelFs, type KernelFsOptions, type MakeDirectoryOptions, type Mode,
  type OpenFlags, type ReadFileOptions, type ReaddirOptions, type RmOptions, Stats, type TimeLike, type WriteFileOptions, kernelFs,
} from './fs/index.js'
export { KernelBuffer } from './kernel-buffer.js'
export type { SyscallArgValue, SyscallFn } from './syscalls.js'
export type { FieldValue } from './structs.js'
export type { KernelData, StructLayout, SyscallInfo } from './kernel-data.js'
export type {
  ConstantName, Constants, KernelExport, StructInit, StructName, Structs, SyscallName, Syscalls,
} from './generated/kernel-api.js'
export type { FiberBackend, HostOpReplacements } from './host-ops/runtime.js'
export {
  AsyncifyOverflowError, DeadlockError, FiberTrapError, HostOpMisuseError, ImageLockedError, KernelStoppedError, LinuxError,
  PanicError, RuntimeFailedError, SchedulerInvariantError, SoftLockupError, StackOverflowError, UklklError, VirtioError,
  WasiModuleError, WasiTrapError, type KernelTask,
} from './errors.js'
export { type RunWasiOptions, type WasiFd, type WasiInput, type WasiOutput, type WasiProgram, type WasiSocket, kernelPipe } from './wasi/run.js'
