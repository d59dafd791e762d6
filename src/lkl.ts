// SPDX-License-Identifier: MIT
/**
 * lkl.ts - `uklkl/lkl`: LKL's own names over the same kernel object, so a script
 * written the LKL way (tools/lkl/tests/boot.c, cptofs.c) reads the same in JS.
 *
 *   import lkl, { lkl_host_ops } from 'uklkl/lkl'
 *   await lkl.lkl_start_kernel(lkl_host_ops, 'mem=32M')
 *   const fd = await lkl.lkl_sys_open('/x', lkl.LKL_O_CREAT | lkl.LKL_O_RDWR, 0o644)
 *   if (fd < 0) console.error(lkl.lkl_strerror(fd))
 *   await lkl.lkl_sys_halt()
 *
 * As in LKL, calls return a negative errno instead of throwing (other failures -
 * a bad argument type, a stopped kernel - still throw). lkl_sys_<name> exists for
 * every syscall of the kernel's table, plus the generic names LKL's lkl.h maps
 * onto the 32-bit table (lkl_sys_open → openat, lkl_sys_stat → fstatat64,
 * lkl_sys_lseek → llseek, ...). LKL_<NAME> is k.constants' NAME.
 *
 * The default export drives one kernel per process, the one lkl_start_kernel
 * booted (LKL's model); lklFor(k) gives the same names over any Kernel object.
 * lkl_host_ops is LKL's default table of the replaceable host ops (console to
 * stdout, the process clock, Web Crypto); spread it to replace one of them.
 *
 * Disks go the LKL way too: lkl_disk_add(fileDisk(path)) before lkl_start_kernel
 * gives a disk id; lkl_mount_dev(id, part, fstype, flags, opts, mntStr) mounts it
 * (part 0: the whole disk) and writes the mount point into mntStr; lkl_umount_dev
 * unmounts; lkl_opendir/lkl_readdir/lkl_errdir/lkl_closedir list a directory.
 *
 * So do NICs: lkl_netdev_add(backend) before lkl_start_kernel gives a netdev
 * id; lkl_netdev_get_ifindex(id) its interface, which lkl_if_up,
 * lkl_if_set_ipv4(ifindex, '10.0.0.2', 24) and lkl_set_ipv4_gateway('10.0.0.1')
 * configure over rtnetlink (k.net). Addresses are dotted text here, where LKL
 * takes a network-order integer. lkl_netdev_remove(id) before lkl_start_kernel
 * forgets the NIC (the other ids stay as they were, as LKL's do).
 *
 * Limits: on the default export, lkl_sys_* and LKL_* exist only between
 * lkl_start_kernel and lkl_sys_halt (before, they throw KernelStoppedError);
 * disks and NICs are added before the kernel starts, and removed before it
 * starts or after it halts (LKL can hot-add, and its lkl_netdev_remove takes a
 * running kernel's interface down and tears the device out; this port plugs
 * devices in at boot only, so removing one from a running kernel is -EBUSY);
 * no IPv6 helpers.
 */
import type { BlockBackend } from './devices/block/backends.js'
import type { NetBackend } from './devices/net/virtio-net.js'
import { KernelStoppedError, LinuxError, UklklError } from './errors.js'
import type { ConstantName, SyscallName, Syscalls } from './generated/kernel-api.js'
import type { HostOpReplacements } from './host-ops/runtime.js'
import { type Kernel, type KernelOptions, startKernel } from './kernel.js'

type Args<F> = F extends (...args: infer A) => Promise<number> ? A : never
type Path = string | Uint8Array

/** lkl_sys_<name> for every syscall of the table: the result, or -errno. */
export type LklTableSyscalls = {
  readonly [K in SyscallName as `lkl_sys_${K}`]: (...args: Args<Syscalls[K]>) => Promise<number>
}

/** The generic names of LKL's lkl.h, mapped onto the 32-bit table as it maps them. */
export interface LklGenericSyscalls {
  lkl_sys_open(path: Path, flags: number, mode?: number): Promise<number>
  lkl_sys_creat(path: Path, mode: number): Promise<number>
  lkl_sys_mkdir(path: Path, mode: number): Promise<number>
  lkl_sys_rmdir(path: Path): Promise<number>
  lkl_sys_unlink(path: Path): Promise<number>
  lkl_sys_link(oldPath: Path, newPath: Path): Promise<number>
  lkl_sys_symlink(target: Path, path: Path): Promise<number>
  lkl_sys_readlink(path: Path, buf: Uint8Array, size: number): Promise<number>
  lkl_sys_rename(oldPath: Path, newPath: Path): Promise<number>
  lkl_sys_chmod(path: Path, mode: number): Promise<number>
  lkl_sys_chown(path: Path, uid: number, gid: number): Promise<number>
  lkl_sys_access(path: Path, mode: number): Promise<number>
  lkl_sys_mknod(path: Path, mode: number, dev: number): Promise<number>
  /** Into a stat64 buffer (k.buffer('stat64')): lkl.h's lkl_stat is stat64 on 32-bit. */
  lkl_sys_stat(path: Path, buf: Uint8Array): Promise<number>
  lkl_sys_lstat(path: Path, buf: Uint8Array): Promise<number>
  lkl_sys_fstat(fd: number, buf: Uint8Array): Promise<number>
  lkl_sys_fstatat(dirfd: number, path: Path, buf: Uint8Array, flags: number): Promise<number>
  lkl_sys_truncate(path: Path, length: number | bigint): Promise<number>
  lkl_sys_ftruncate(fd: number, length: number | bigint): Promise<number>
  lkl_sys_fcntl(fd: number, cmd: number, arg: number | Uint8Array): Promise<number>
  /** Into a statfs64 buffer (k.buffer('statfs64')). */
  lkl_sys_statfs(path: Path, buf: Uint8Array): Promise<number>
  lkl_sys_fstatfs(fd: number, buf: Uint8Array): Promise<number>
  /** The new offset, or -errno (lkl.h's wrapper over llseek). */
  lkl_sys_lseek(fd: number, offset: number, whence: number): Promise<number>
  /** Two int32 fds into fds (8 bytes). */
  lkl_sys_pipe(fds: Uint8Array): Promise<number>
  lkl_sys_umount(path: Path, flags: number): Promise<number>
  lkl_sys_epoll_create(size: number): Promise<number>
  lkl_sys_epoll_wait(epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number): Promise<number>
}

/** LKL_<NAME> for every name of k.constants. */
export type LklConstants = { readonly [K in ConstantName as `LKL_${K}`]: number }

/** LKL's names over one kernel. */
export type Lkl = LklTableSyscalls & LklGenericSyscalls & LklConstants & {
  /** The kernel these names drive. */
  readonly kernel: Kernel
  /** Shut the kernel down (LKL's lkl_sys_halt): 0. */
  lkl_sys_halt(): Promise<number>
  /** Bring interface ifindex up (LKL's lkl_if_up): 0 or -errno. */
  lkl_if_up(ifindex: number): Promise<number>
  /** The ifindex of NIC netdevId (its place in startKernel's nics; LKL's lkl_netdev_get_ifindex), or -ENODEV. */
  lkl_netdev_get_ifindex(netdevId: number): Promise<number>
  /** Give interface ifindex the IPv4 address addr ('a.b.c.d') with a prefix of netmaskLen bits (LKL's lkl_if_set_ipv4): 0 or -errno. */
  lkl_if_set_ipv4(ifindex: number, addr: string, netmaskLen: number): Promise<number>
  /** A default IPv4 route via addr (LKL's lkl_set_ipv4_gateway): 0 or -errno. */
  lkl_set_ipv4_gateway(addr: string): Promise<number>
  /** Mount fstype at /fstype (LKL's lkl_mount_fs): 0 or -errno. */
  lkl_mount_fs(fstype: string): Promise<number>
  /** What errno err (negative or positive) means, as the kernel's uapi comment says it. */
  lkl_strerror(err: number): string
  /**
   * Mount disk diskId (partition part, 0 for the whole disk) at /mnt/vdXN (LKL's
   * lkl_mount_dev); fsType null detects it. The mount point goes into mntStr,
   * NUL-terminated. 0 or -errno (-EINVAL for an unknown filesystem or partition).
   */
  lkl_mount_dev(diskId: number, part: number, fsType: string | null, flags: number, opts: string | null,
    mntStr: Uint8Array): Promise<number>
  /** Sync and unmount what lkl_mount_dev mounted (LKL's lkl_umount_dev): 0 or -errno. */
  lkl_umount_dev(diskId: number, part: number, flags: number, timeoutMs: number): Promise<number>
  /** Open a directory for lkl_readdir (LKL's lkl_opendir); null with err[0] = -errno on failure. */
  lkl_opendir(path: string, err: Int32Array): Promise<LklDir | null>
  /** The next entry, or null at the end or on an error (then lkl_errdir says which). */
  lkl_readdir(dir: LklDir): Promise<LklDirent | null>
  /** The error that ended lkl_readdir, 0 if none. */
  lkl_errdir(dir: LklDir): number
  lkl_closedir(dir: LklDir): Promise<number>
}

/** An entry of lkl_readdir: struct lkl_linux_dirent64's fields. */
export interface LklDirent {
  d_ino: bigint
  d_off: bigint
  d_type: number
  d_name: string
}

/** A directory open for lkl_readdir. */
export interface LklDir {
  readonly fd: number
}

interface DirState extends LklDir {
  buffer: Uint8Array
  length: number
  at: number
  error: number
}

/* The errno values lkl_disk_add and lkl_disk_remove answer with before any kernel (and its constants) exists. */
const EBUSY = 16
const EINVAL = 22

/** Run a call the LKL way: -errno instead of a LinuxError. */
async function negative(call: () => Promise<number>): Promise<number> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof LinuxError) return -error.errno
    throw error
  }
}

function generic(k: Kernel): LklGenericSyscalls {
  const c = k.constants
  const sys = k.sys
  const wrap = <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    (...args: A): Promise<number> => negative(() => fn(...args))
  return {
    lkl_sys_open: wrap((path, flags, mode = 0) => sys.openat(c.AT_FDCWD, path, flags, mode)),
    lkl_sys_creat: wrap((path, mode) => sys.openat(c.AT_FDCWD, path, c.O_CREAT | c.O_WRONLY | c.O_TRUNC, mode)),
    lkl_sys_mkdir: wrap((path, mode) => sys.mkdirat(c.AT_FDCWD, path, mode)),
    lkl_sys_rmdir: wrap((path) => sys.unlinkat(c.AT_FDCWD, path, c.AT_REMOVEDIR)),
    lkl_sys_unlink: wrap((path) => sys.unlinkat(c.AT_FDCWD, path, 0)),
    lkl_sys_link: wrap((oldPath, newPath) => sys.linkat(c.AT_FDCWD, oldPath, c.AT_FDCWD, newPath, 0)),
    lkl_sys_symlink: wrap((target, path) => sys.symlinkat(target, c.AT_FDCWD, path)),
    lkl_sys_readlink: wrap((path, buf, size) => sys.readlinkat(c.AT_FDCWD, path, buf, size)),
    lkl_sys_rename: wrap((oldPath, newPath) => sys.renameat2(c.AT_FDCWD, oldPath, c.AT_FDCWD, newPath, 0)),
    lkl_sys_chmod: wrap((path, mode) => sys.fchmodat(c.AT_FDCWD, path, mode)),
    lkl_sys_chown: wrap((path, uid, gid) => sys.fchownat(c.AT_FDCWD, path, uid, gid, 0)),
    lkl_sys_access: wrap((path, mode) => sys.faccessat(c.AT_FDCWD, path, mode)),
    lkl_sys_mknod: wrap((path, mode, dev) => sys.mknodat(c.AT_FDCWD, path, mode, dev)),
    lkl_sys_stat: wrap((path, buf) => sys.fstatat64(c.AT_FDCWD, path, buf, 0)),
    lkl_sys_lstat: wrap((path, buf) => sys.fstatat64(c.AT_FDCWD, path, buf, c.AT_SYMLINK_NOFOLLOW)),
    lkl_sys_fstat: wrap((fd, buf) => sys.fstat64(fd, buf)),
    lkl_sys_fstatat: wrap((dirfd, path, buf, flags) => sys.fstatat64(dirfd, path, buf, flags)),
    lkl_sys_truncate: wrap((path, length) => sys.truncate64(path, length)),
    lkl_sys_ftruncate: wrap((fd, length) => sys.ftruncate64(fd, length)),
    lkl_sys_fcntl: wrap((fd, cmd, arg) => sys.fcntl64(fd, cmd, arg)),
    lkl_sys_statfs: wrap((path, buf) => sys.statfs64(path, buf.length, buf)),
    lkl_sys_fstatfs: wrap((fd, buf) => sys.fstatfs64(fd, buf.length, buf)),
    lkl_sys_lseek: wrap(async (fd, offset, whence) => {
      const result = new Uint8Array(8)
      // llseek takes the offset as two 32-bit halves, high first.
      await sys.llseek(fd, Math.floor(offset / 2 ** 32), offset >>> 0, result, whence)
      return Number(new DataView(result.buffer).getBigInt64(0, true))
    }),
    lkl_sys_pipe: wrap((fds) => sys.pipe2(fds, 0)),
    lkl_sys_umount: wrap((path, flags) => sys.umount2(path, flags)),
    lkl_sys_epoll_create: wrap(async (size) => {
      // epoll_create(2) only checks its size hint.
      if (size <= 0) return -c.EINVAL
      return sys.epoll_create1(0)
    }),
    lkl_sys_epoll_wait: wrap((epfd, events, maxEvents, timeoutMs) =>
      sys.epoll_pwait(epfd, events, maxEvents, timeoutMs, null, 0)),
  }
}

function diskNames(k: Kernel): Pick<Lkl, 'lkl_mount_dev' | 'lkl_umount_dev' | 'lkl_opendir' | 'lkl_readdir' | 'lkl_errdir' | 'lkl_closedir'> {
  const c = k.constants
  const states = new WeakMap<LklDir, DirState>()
  const mountPoint = (diskId: number, part: number): string | null => {
    const disk = k.disks[diskId]
    return disk === undefined ? null : `/mnt/${disk.name}${part === 0 ? '' : part}`
  }
  const state = (dir: LklDir): DirState => {
    const found = states.get(dir)
    if (found === undefined) throw new TypeError('not a directory from lkl_opendir')
    return found
  }
  return {
    async lkl_mount_dev(diskId, part, fsType, flags, opts, mntStr) {
      const disk = k.disks[diskId]
      const target = mountPoint(diskId, part)
      if (disk === undefined || target === null) return -c.EINVAL
      const path = new TextEncoder().encode(`${target}\0`)
      if (path.length > mntStr.length) return -c.ENOMEM
      try {
        await k.mount(disk, {
          ...(part === 0 ? {} : { partition: part }),
          ...(fsType === null ? {} : { fstype: fsType }),
          ...(opts === null ? {} : { options: opts }),
          readOnly: (flags & c.MS_RDONLY) !== 0,
        })
      } catch (error) {
        if (error instanceof LinuxError) return -error.errno
        if (error instanceof UklklError && error.cause instanceof LinuxError) return -error.cause.errno
        if (error instanceof UklklError && !(error instanceof KernelStoppedError)) return -c.EINVAL
        throw error
      }
      mntStr.set(path)
      return 0
    },
    lkl_umount_dev: (diskId, part) => negative(async () => {
      const target = mountPoint(diskId, part)
      if (target === null) return -c.EINVAL
      await k.umount(target)
      return 0
    }),
    async lkl_opendir(path, err) {
      try {
        const fd = await k.sys.openat(c.AT_FDCWD, path, c.O_RDONLY | c.O_DIRECTORY, 0)
        const dir: LklDir = { fd }
        states.set(dir, { fd, buffer: new Uint8Array(4096), length: 0, at: 0, error: 0 })
        err[0] = 0
        return dir
      } catch (error) {
        if (!(error instanceof LinuxError)) throw error
        err[0] = -error.errno
        return null
      }
    },
    async lkl_readdir(dir) {
      const s = state(dir)
      if (s.at >= s.length) {
        const n = await negative(() => k.sys.getdents64(s.fd, s.buffer, s.buffer.length))
        if (n <= 0) {
          s.error = Math.min(n, 0)
          return null
        }
        s.length = n
        s.at = 0
      }
      // struct linux_dirent64: d_ino, d_off, d_reclen, d_type, then the NUL-terminated name.
      const view = new DataView(s.buffer.buffer, s.at)
      const reclen = view.getUint16(16, true)
      const name = s.buffer.subarray(s.at + 19, s.at + reclen)
      const entry: LklDirent = {
        d_ino: view.getBigUint64(0, true),
        d_off: view.getBigInt64(8, true),
        d_type: view.getUint8(18),
        d_name: new TextDecoder().decode(name.subarray(0, name.indexOf(0))),
      }
      s.at += reclen
      return entry
    },
    lkl_errdir: (dir) => state(dir).error,
    lkl_closedir: (dir) => negative(async () => {
      states.delete(dir)
      return k.sys.close(dir.fd)
    }),
  }
}

/** LKL's names over kernel k. */
export function lklFor(k: Kernel): Lkl {
  const names: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(k.sys) as [SyscallName, (...args: unknown[]) => Promise<number>][]) {
    names[`lkl_sys_${name}`] = (...args: unknown[]) => negative(() => fn(...args))
  }
  for (const [name, value] of Object.entries(k.constants)) names[`LKL_${name}`] = value
  const errnoName = new Map(Object.entries(k.image.data.errno).map(([name, value]) => [value, name]))
  const rest: Omit<Lkl, keyof LklTableSyscalls | keyof LklGenericSyscalls | keyof LklConstants> = {
    kernel: k,
    lkl_sys_halt: () => k.halt(),
    lkl_if_up: (ifindex) => negative(() => k.ifUp(ifindex).then(() => 0)),
    lkl_netdev_get_ifindex: (netdevId) => negative(async () => {
      const nic = k.net.nics[netdevId]
      return nic === undefined ? -k.constants.ENODEV : k.net.index(nic)
    }),
    lkl_if_set_ipv4: (ifindex, addr, netmaskLen) => negative(() => k.net.addAddress(ifindex, `${addr}/${netmaskLen}`).then(() => 0)),
    lkl_set_ipv4_gateway: (addr) => negative(() => k.net.addRoute('default', { via: addr }).then(() => 0)),
    lkl_mount_fs: (fstype) => negative(() => k.mountFs(fstype).then(() => 0)),
    lkl_strerror: (err) => {
      const name = errnoName.get(Math.abs(err))
      return (name === undefined ? undefined : k.image.data.errnoText[name]) ?? `Unknown error ${Math.abs(err)}`
    },
    ...diskNames(k),
  }
  return Object.assign(names as LklTableSyscalls & LklConstants, generic(k), rest)
}

/** The default export: one kernel per process, as in LKL. */
export type LklDefault = Omit<Lkl, 'kernel'> & {
  /** The kernel lkl_start_kernel booted, or null. */
  readonly kernel: Kernel | null
  /**
   * Boot the process's kernel (LKL's lkl_start_kernel) on host ops ops (lkl_host_ops,
   * or null for startKernel's quiet defaults) with cmdline (mem=, loglevel=, ...) and
   * startKernel's other options; 0, or -EBUSY when one is running.
   */
  lkl_start_kernel(ops: HostOpReplacements | null, cmdline?: string,
    options?: Omit<KernelOptions, 'cmdline' | 'hostOps'>): Promise<number>
  /**
   * Add a disk for the next lkl_start_kernel (LKL's lkl_disk_add): its disk id
   * (the kernel's vda is 0), or -EBUSY while a kernel runs.
   */
  lkl_disk_add(disk: BlockBackend): number
  /** Forget disk diskId (LKL's lkl_disk_remove): 0; -EBUSY while a kernel runs, -EINVAL for no such disk. */
  lkl_disk_remove(diskId: number): number
  /**
   * Add a NIC for the next lkl_start_kernel (LKL's lkl_netdev_add): its netdev id
   * (for lkl_netdev_get_ifindex), or -EBUSY while a kernel runs. It serves one
   * boot: lkl_sys_halt forgets it.
   */
  lkl_netdev_add(backend: NetBackend): number
  /**
   * Forget NIC netdevId before lkl_start_kernel (LKL's lkl_netdev_remove, which
   * returns nothing): 0; -EBUSY while a kernel runs (no hot-unplug here), -EINVAL
   * for no such NIC. The other netdev ids keep naming their NICs.
   */
  lkl_netdev_remove(netdevId: number): number
}

/**
 * LKL's lkl_host_ops: the replaceable host ops as an LKL host has them - the
 * console to stdout, the process's monotonic clock, Web Crypto's entropy, and
 * nothing extra on panic (the kernel stops with a PanicError). The other ops of
 * LKL's table (sem_*, mutex_*, thread_*, tls_*, mem_*, timer_*, jmp_buf_*) are the
 * fiber runtime and not replaceable (src/host-ops/host-ops.h has every contract).
 */
export const lkl_host_ops: Readonly<Required<HostOpReplacements>> = Object.freeze({
  print: (text: string): void => {
    process.stdout.write(text)
  },
  panic: (): void => undefined,
  time: (): bigint => process.hrtime.bigint(),
  random: (bytes: Uint8Array): void => {
    crypto.getRandomValues(bytes)
  },
})

let current: Lkl | null = null
/** lkl_disk_add's disks, by id; a removed one leaves a hole so that ids stay put. */
const disks: (BlockBackend | null)[] = []
/** lkl_netdev_add's NICs, by netdev id; a removed one leaves a hole so that ids stay put. */
const netdevs: (NetBackend | null)[] = []
/** The netdevs the running kernel booted with (holes included): netdev id → place in its nics. */
let booted: readonly (NetBackend | null)[] = []

const base = {
  get kernel(): Kernel | null {
    return current?.kernel ?? null
  },
  async lkl_start_kernel(ops: HostOpReplacements | null, cmdline = '',
    options: Omit<KernelOptions, 'cmdline' | 'hostOps'> = {}): Promise<number> {
    if (current !== null) return -current.kernel.constants.EBUSY
    if (disks.includes(null)) throw new UklklError('lkl_start_kernel: a disk id was removed; disk ids must run from 0 without holes')
    const added = disks.filter((d) => d !== null)
    const nics = netdevs.filter((n) => n !== null)
    current = lklFor(await startKernel({
      ...options, cmdline, ...(ops === null ? {} : { hostOps: ops }), disks: [...added, ...(options.disks ?? [])],
      nics: [...nics, ...(options.nics ?? [])],
    }))
    booted = netdevs.slice()
    return 0
  },
  lkl_disk_add(disk: BlockBackend): number {
    if (current !== null) return -EBUSY
    return disks.push(disk) - 1
  },
  lkl_disk_remove(diskId: number): number {
    if (current !== null) return -EBUSY
    if (disks[diskId] === undefined || disks[diskId] === null) return -EINVAL
    disks[diskId] = null
    while (disks.at(-1) === null) disks.pop()
    return 0
  },
  lkl_netdev_add(backend: NetBackend): number {
    if (current !== null) return -EBUSY
    return netdevs.push(backend) - 1
  },
  lkl_netdev_remove(netdevId: number): number {
    if (current !== null) return -EBUSY
    if (netdevs[netdevId] === undefined || netdevs[netdevId] === null) return -EINVAL
    netdevs[netdevId] = null
    while (netdevs.at(-1) === null) netdevs.pop()
    return 0
  },
  lkl_netdev_get_ifindex(netdevId: number): Promise<number> {
    if (current === null) return Promise.reject(new KernelStoppedError('lkl_netdev_get_ifindex: no kernel is running: call lkl_start_kernel first'))
    // A removed NIC was never plugged in; the ones after it sit one place earlier in the kernel's nics.
    if (booted[netdevId] === null) return Promise.resolve(-current.kernel.constants.ENODEV)
    const holes = booted.slice(0, netdevId).filter((n) => n === null).length
    return current.lkl_netdev_get_ifindex(netdevId - holes)
  },
  async lkl_sys_halt(): Promise<number> {
    if (current === null) throw new KernelStoppedError('no kernel is running: call lkl_start_kernel first')
    const kernel = current
    current = null
    // A NIC serves one boot (its backend cannot be opened twice): the next kernel adds its own.
    netdevs.length = 0
    booted = []
    return kernel.lkl_sys_halt()
  },
}

/** LKL's names over the process's one kernel: every other name goes to the running kernel's table. */
const lkl = new Proxy(base, {
  get(target, name, receiver) {
    if (typeof name !== 'string' || name in target) return Reflect.get(target, name, receiver)
    if (current !== null) return (current as unknown as Record<string, unknown>)[name]
    const error = new KernelStoppedError(`${name}: no kernel is running: call lkl_start_kernel first`)
    // A call rejects, as every call does; a constant has no value to give.
    if (name.startsWith('lkl_')) return () => Promise.reject(error)
    throw error
  },
}) as unknown as LklDefault

export default lkl
