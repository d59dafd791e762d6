// SPDX-License-Identifier: MIT
/**
 * boot.ts - `uklkl boot`: LKL's boot test sequence through the public API,
 * reported as TAP 13 (`ok N name`, then a YAML block with time_us and a log).
 *
 * The cases run in LKL's order on one kernel, but unlike LKL's they do not build on
 * each other's leftovers: each makes its own files and descriptors (the procfs
 * cases share their mount, as their names say), so test/kernel/boot.test.ts runs the
 * very same list as independent vitest tests. A case that throws fails with the
 * error as its log, and the run goes on, so one failure does not hide the rest.
 */
import { LinuxError } from '../errors.js'
import { type HostSelftest, type Kernel, startKernel } from '../kernel.js'

export interface CaseResult {
  ok: boolean
  log: string
}

/** What the cases share: the kernel that start_kernel boots and stop_kernel halts. */
export interface BootContext {
  kernel: Kernel | null
}

export type BootCase = [name: string, run: (ctx: BootContext) => Promise<CaseResult>]

const PIPE_BUF = 4096
const text = new TextEncoder()
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

function check(ok: boolean, log: string): CaseResult {
  return { ok, log }
}

/** A case that needs the booted kernel. */
function withKernel(name: string, run: (k: Kernel) => Promise<CaseResult>): BootCase {
  return [name, async (ctx) => {
    if (ctx.kernel === null) throw new Error('the kernel did not start')
    return run(ctx.kernel)
  }]
}

let unique = 0
/** A path no other case uses: the cases share one kernel but not its files. */
function fresh(name: string): string {
  return `/boot-${name}-${++unique}`
}

/** Run fn with umask 0, as LKL's sequence has it by then, so modes come out as asked. */
async function withoutUmask<T>(k: Kernel, fn: () => Promise<T>): Promise<T> {
  const old = await k.sys.umask(0)
  try {
    return await fn()
  } finally {
    await k.sys.umask(old)
  }
}

async function createFile(k: Kernel, path: string, mode: number, content?: Uint8Array): Promise<number> {
  const { AT_FDCWD, O_CREAT, O_RDWR, O_TRUNC } = k.constants
  const fd = await withoutUmask(k, () => k.sys.openat(AT_FDCWD, path, O_CREAT | O_RDWR | O_TRUNC, mode))
  if (content !== undefined) await k.sys.write(fd, content, content.length)
  return fd
}

async function llseek(k: Kernel, fd: number, offset: number, whence: number): Promise<bigint> {
  const result = new Uint8Array(8)
  await k.sys.llseek(fd, 0, offset, result, whence)
  return new DataView(result.buffer).getBigInt64(0, true)
}

async function pipe(k: Kernel, flags: number): Promise<[number, number]> {
  const fds = new Uint8Array(8)
  await k.sys.pipe2(fds, flags)
  const view = new DataView(fds.buffer)
  return [view.getInt32(0, true), view.getInt32(4, true)]
}

/** SIOCGIFFLAGS of the interface called name, read back from the kernel. */
async function interfaceFlags(k: Kernel, name: string): Promise<number> {
  const sock = await k.sys.socket(k.constants.AF_INET, k.constants.SOCK_DGRAM, 0)
  try {
    const ifr = k.encode('ifreq', { ifr_name: text.encode(name) })
    await k.sys.ioctl(sock, k.constants.SIOCGIFFLAGS, ifr)
    return k.decode('ifreq', ifr).ifr_flags
  } finally {
    await k.sys.close(sock)
  }
}

/** The filesystem type (statfs f_type, a *_MAGIC) of the filesystem holding path. */
async function fsType(k: Kernel, path: string): Promise<number> {
  const buf = k.buffer('statfs64')
  await k.sys.statfs64(path, buf.length, buf)
  return k.decode('statfs64', buf).f_type
}

/** The task's working directory, as getcwd reports it. */
async function cwd(k: Kernel): Promise<string> {
  const buf = new Uint8Array(4096)
  const n = await k.sys.getcwd(buf, buf.length)
  return decode(buf.subarray(0, n - 1))
}

/** A case on a "test\0" file at a fresh path, open O_RDWR at offset 5. */
function withTestFile(name: string, run: (k: Kernel, fd: number) => Promise<CaseResult>): BootCase {
  return withKernel(name, async (k) => {
    const fd = await createFile(k, fresh(name), 0o721, text.encode('test\0'))
    try {
      return await run(k, fd)
    } finally {
      await k.sys.close(fd)
    }
  })
}

/** The LKL host-level boot cases: C in the kernel image exercising the host ops. */
function hostCase(name: HostSelftest): BootCase {
  return withKernel(name, async (k) => {
    const result = await k.hostSelftest(name)
    return check(result === 0, String(result))
  })
}

async function seekCase(k: Kernel, fd: number, whence: 'SEEK_CUR' | 'SEEK_END' | 'SEEK_SET', want: bigint) {
  const pos = await llseek(k, fd, 0, k.constants[whence])
  return check(pos === want, String(pos))
}

/** LKL's boot sequence, in its order; every case but the first and last stands alone. */
export const BOOT_CASES: BootCase[] = [
  ['start_kernel', async (ctx) => {
    let log = ''
    ctx.kernel = await startKernel({ memoryMiB: 32, cmdline: 'loglevel=8', onConsole: (t) => { log += t } })
    return check(/Linux version 6\.12/.test(log), log)
  }],
  hostCase('mutex'),
  hostCase('semaphore'),
  hostCase('join'),
  // k.sys calls come from host threads of pid 1's thread group (LKL's init task).
  withKernel('getpid', async (k) => {
    const pid = await k.sys.getpid()
    return check(pid === 1, String(pid))
  }),
  // LKL times 1000 getpid calls; the figure is bench/'s (bench/kernel.ts), the case
  // checks that every one of them was answered, and answered right.
  withKernel('syscall_latency', async (k) => {
    const pids = new Set<number>()
    const start = process.hrtime.bigint()
    for (let i = 0; i < 1000; i++) pids.add(await k.sys.getpid())
    const avg = Number(process.hrtime.bigint() - start) / 1000
    return check(pids.size === 1 && pids.has(1), `1000 calls saw pid ${[...pids].join(', ')}; ${avg.toFixed(0)} ns each`)
  }),
  withKernel('umask', async (k) => {
    const old = await k.sys.umask(0o777)
    await k.sys.umask(old)
    return check(old === 0o22, `0${old.toString(8)}`)
  }),
  withKernel('umask2', async (k) => {
    const old = await k.sys.umask(0o777)
    const second = await k.sys.umask(0)
    await k.sys.umask(old)
    return check(second === 0o777, `0${second.toString(8)}`)
  }),
  withKernel('creat', async (k) => {
    const fd = await createFile(k, fresh('creat'), 0o721)
    await k.sys.close(fd)
    return check(fd >= 0, String(fd))
  }),
  withKernel('close', async (k) => {
    const fd = await createFile(k, fresh('close'), 0o721)
    const r = await k.sys.close(fd)
    const again = await k.sys.close(fd).catch((e: unknown) => e)
    return check(r === 0 && again instanceof LinuxError && again.code === 'EBADF', `${r}, then ${String(again)}`)
  }),
  withKernel('failopen', async (k) => {
    const error = await k.sys.openat(k.constants.AT_FDCWD, fresh('failopen'), k.constants.O_RDWR, 0).catch((e: unknown) => e)
    return check(error instanceof LinuxError && error.code === 'ENOENT', String(error))
  }),
  withKernel('open', async (k) => {
    const path = fresh('open')
    await k.sys.close(await createFile(k, path, 0o721))
    const fd = await k.sys.openat(k.constants.AT_FDCWD, path, k.constants.O_RDWR, 0)
    await k.sys.close(fd)
    return check(fd >= 0, String(fd))
  }),
  withKernel('write', async (k) => {
    const fd = await createFile(k, fresh('write'), 0o721)
    const n = await k.sys.write(fd, text.encode('test\0'), 5)
    await k.sys.close(fd)
    return check(n === 5, String(n))
  }),
  withTestFile('lseek_cur', (k, fd) => seekCase(k, fd, 'SEEK_CUR', 5n)),
  withTestFile('lseek_end', (k, fd) => seekCase(k, fd, 'SEEK_END', 5n)),
  withTestFile('lseek_set', (k, fd) => seekCase(k, fd, 'SEEK_SET', 0n)),
  withTestFile('read', async (k, fd) => {
    await llseek(k, fd, 0, k.constants.SEEK_SET)
    const buf = new Uint8Array(5)
    const n = await k.sys.read(fd, buf, 5)
    return check(n === 5 && decode(buf) === 'test\0', `${n} ${JSON.stringify(decode(buf))}`)
  }),
  withTestFile('fstat', async (k, fd) => {
    const buf = k.buffer('stat64')
    await k.sys.fstat64(fd, buf)
    const st = k.decode('stat64', buf)
    const mode = st.st_mode
    return check(st.st_size === 5n && mode === (0o721 | k.constants.S_IFREG), `size ${st.st_size} mode 0${mode.toString(8)}`)
  }),
  withKernel('mkdir', async (k) => {
    const r = await k.sys.mkdirat(k.constants.AT_FDCWD, fresh('mkdir'), 0o721)
    return check(r === 0, String(r))
  }),
  withKernel('stat', async (k) => {
    const path = fresh('stat')
    await withoutUmask(k, () => k.sys.mkdirat(k.constants.AT_FDCWD, path, 0o721))
    const buf = k.buffer('stat64')
    await k.sys.fstatat64(k.constants.AT_FDCWD, path, buf, 0)
    const mode = k.decode('stat64', buf).st_mode
    return check(mode === (0o721 | k.constants.S_IFDIR), `mode 0${mode.toString(8)}`)
  }),
  withKernel('nanosleep', async (k) => {
    const ns = 87_654_321
    const ts = k.encode('timespec', { tv_sec: 0n, tv_nsec: BigInt(ns) })
    const start = process.hrtime.bigint()
    await k.sys.clock_nanosleep_time64(k.constants.CLOCK_MONOTONIC, 0, ts, null)
    const elapsed = Number(process.hrtime.bigint() - start)
    return check(elapsed >= ns * 0.9, `slept ${elapsed} ns`)
  }),
  withKernel('pipe2', async (k) => {
    const [rd, wr] = await pipe(k, k.constants.O_NONBLOCK)
    const message = text.encode('Hello world!')
    await k.sys.write(wr, message, message.length)
    const buf = new Uint8Array(message.length)
    const n = await k.sys.read(rd, buf, buf.length)
    for (const fd of [rd, wr]) await k.sys.close(fd)
    return check(n === message.length && decode(buf) === 'Hello world!', JSON.stringify(decode(buf)))
  }),
  withKernel('epoll', async (k) => {
    const { EPOLL_CTL_ADD, EPOLLIN, O_NONBLOCK } = k.constants
    const [rd, wr] = await pipe(k, O_NONBLOCK)
    const epfd = await k.sys.epoll_create1(0)
    await k.sys.epoll_ctl(epfd, EPOLL_CTL_ADD, rd, k.encode('epoll_event', { events: EPOLLIN, data: BigInt(rd) }))
    const events = k.buffer('epoll_event')
    const before = await k.sys.epoll_pwait(epfd, events, 1, 0, null, 0)
    await k.sys.write(wr, text.encode('x'), 1)
    const after = await k.sys.epoll_pwait(epfd, events, 1, 0, null, 0)
    for (const fd of [epfd, rd, wr]) await k.sys.close(fd)
    return check(before === 0 && after === 1, `${before} events before the write, ${after} after`)
  }),
  ...procCases(),
  withKernel('lo_ifup', async (k) => {
    const name = await k.ifUp(1)
    const flags = await interfaceFlags(k, name)
    const up = (flags & k.constants.IFF_UP) !== 0
    return check(name === 'lo' && up, `interface 1 is ${name}, flags 0x${flags.toString(16)}`)
  }),
  withKernel('gettid', async (k) => {
    const tid = await k.sys.gettid()
    return check(tid > 0, String(tid))
  }),
  withKernel('syscall_thread', async (k) => {
    const [rd, wr] = await pipe(k, 0)
    await k.sys.fcntl64(rd, k.constants.F_SETPIPE_SZ, 1)
    await using reader = await k.thread()
    const buf = new Uint8Array(PIPE_BUF + 1)
    const reading = reader.sys.read(rd, buf, buf.length)
    const written = await k.sys.write(wr, new Uint8Array(PIPE_BUF + 1).fill(7), PIPE_BUF + 1)
    const read = await reading
    for (const fd of [rd, wr]) await k.sys.close(fd)
    return check(written === PIPE_BUF + 1 && read > 0, `wrote ${written}; the blocked reader got ${read}`)
  }),
  withKernel('many_syscall_threads', async (k) => {
    const pids = await Promise.all(Array.from({ length: 64 }, async () => {
      await using thread = await k.thread()
      // Await before returning: the thread exits when this block ends.
      return await thread.sys.getpid()
    }))
    return check(pids.every((p) => p === pids[0]), `64 threads saw pid ${[...new Set(pids)].join(', ')}`)
  }),
  withKernel('new_tgid_threads', async (k) => {
    const parent = await k.sys.getpid()
    const seen = await Promise.all(Array.from({ length: 64 }, async () => {
      await using thread = await k.thread({ newThreadGroup: true })
      return [await thread.sys.getpid(), await thread.sys.getppid()] as const
    }))
    const ok = seen.every(([pid, ppid]) => pid !== parent && ppid === parent)
    return check(ok, `parent ${parent}; first children (pid/ppid): ${seen.slice(0, 4).map((s) => s.join('/')).join(' ')}`)
  }),
  ['stop_kernel', async (ctx) => {
    if (ctx.kernel === null) throw new Error('the kernel did not start')
    const r = await ctx.kernel.halt()
    return check(r === 0, String(r))
  }],
]

/**
 * LKL's procfs cases: mount proc, chdir into it, list it, leave and unmount. Unlike
 * the others they are steps of one walk and share its mount and directory fd, in
 * this order, as their names say.
 */
function procCases(): BootCase[] {
  let dirFd = -1
  return [
    withKernel('mount_fs_proc', async (k) => {
      const r = await k.mountFs('proc')
      const type = await fsType(k, r)
      return check(r === '/proc' && type === k.constants.PROC_SUPER_MAGIC, `mounted at ${r}, f_type 0x${type.toString(16)}`)
    }),
    withKernel('chdir_proc', async (k) => {
      await k.sys.chdir('/proc')
      const dir = await cwd(k)
      return check(dir === '/proc', `cwd ${dir}`)
    }),
    withKernel('open_cwd', async (k) => {
      const { AT_FDCWD, O_DIRECTORY, O_RDONLY } = k.constants
      dirFd = await k.sys.openat(AT_FDCWD, '.', O_DIRECTORY | O_RDONLY, 0)
      return check(dirFd >= 0, String(dirFd))
    }),
    withKernel('getdents64', async (k) => {
      const buf = new Uint8Array(4096)
      const n = await k.sys.getdents64(dirFd, buf, buf.length)
      const names: string[] = []
      for (let off = 0; off < n;) {
        const d = k.decode('linux_dirent64', buf, off)
        const name = d.d_name
        names.push(decode(name.subarray(0, name.indexOf(0))))
        off += d.d_reclen
      }
      return check(names.includes('self') && names.includes('meminfo'), names.join(' '))
    }),
    withKernel('close_dir_fd', async (k) => {
      await k.sys.close(dirFd)
      const after = await k.sys.fcntl64(dirFd, k.constants.F_GETFD, 0).catch((e: unknown) => e)
      return check(after instanceof LinuxError && after.code === 'EBADF', `F_GETFD after close: ${String(after)}`)
    }),
    withKernel('chdir_root', async (k) => {
      await k.sys.chdir('/')
      const dir = await cwd(k)
      return check(dir === '/', `cwd ${dir}`)
    }),
    withKernel('umount_fs_proc', async (k) => {
      await k.sys.umount2('/proc', 0)
      const type = await fsType(k, '/proc')
      return check(type !== k.constants.PROC_SUPER_MAGIC, `/proc is on f_type 0x${type.toString(16)} after umount`)
    }),
  ]
}

/** The YAML block under a TAP line. */
function yaml(timeUs: number, log: string): string {
  const lines = log.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')
  return `  ---\n  time_us: ${timeUs}\n  log: |\n${lines || '    '}\n  ...`
}

/** Run the sequence, printing TAP to out; resolves with whether every case passed. */
export async function bootTest(out: (line: string) => void = console.log): Promise<boolean> {
  const ctx: BootContext = { kernel: null }
  out('TAP version 13')
  out(`1..${BOOT_CASES.length}`)
  let passed = 0
  for (const [i, [name, run]] of BOOT_CASES.entries()) {
    const start = process.hrtime.bigint()
    const result = await run(ctx).catch((error: unknown) => check(false, error instanceof Error ? error.stack ?? error.message : String(error)))
    const timeUs = Number((process.hrtime.bigint() - start) / 1000n)
    if (result.ok) passed++
    out(`${result.ok ? 'ok' : 'not ok'} ${i + 1} ${name}`)
    out(yaml(timeUs, result.log))
  }
  out(`# ${passed} of ${BOOT_CASES.length} passed`)
  return passed === BOOT_CASES.length
}
