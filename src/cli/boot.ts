// SPDX-License-Identifier: MIT
/**
 * boot.ts - `uklkl boot`: LKL's boot test sequence through the public API,
 * reported as TAP 13 (`ok N name`, then a YAML block with time_us and a log).
 *
 * The cases run in LKL's order and, like LKL's, build on each other (creat makes
 * /file, open reopens it, ...); the vitest suite test/kernel/boot.test.ts holds the
 * same cases as independent tests. A case that throws fails with the error as its
 * log, and the run goes on, so one failure does not hide the rest.
 */
import { LinuxError } from '../errors.js'
import { type HostSelftest, type Kernel, startKernel } from '../kernel.js'

export interface CaseResult {
  ok: boolean
  log: string
}

interface BootContext {
  kernel: Kernel | null
  /** File descriptors the sequence passes from case to case. */
  fd: number
  dirFd: number
  bootLog: string
}

type Case = [name: string, run: (ctx: BootContext) => Promise<CaseResult>]

const PIPE_BUF = 4096
const text = new TextEncoder()

function check(ok: boolean, log: string): CaseResult {
  return { ok, log }
}

function k(ctx: BootContext): Kernel {
  if (ctx.kernel === null) throw new Error('the kernel did not start')
  return ctx.kernel
}

/** The LKL host-level cases: exercise the host ops from C inside the kernel image. */
function hostCase(name: HostSelftest): Case {
  return [name, async (ctx) => {
    const result = await k(ctx).hostSelftest(name)
    return check(result === 0, String(result))
  }]
}

async function llseek(kernel: Kernel, fd: number, offset: number, whence: number): Promise<bigint> {
  const result = new Uint8Array(8)
  await kernel.sys.llseek!(fd, 0, offset, result, whence)
  return new DataView(result.buffer).getBigInt64(0, true)
}

const CASES: Case[] = [
  ['start_kernel', async (ctx) => {
    let log = ''
    ctx.kernel = await startKernel({ memoryMiB: 32, cmdline: 'loglevel=8', onConsole: (t) => { log += t } })
    ctx.bootLog = log
    return check(log.includes('Linux version'), log)
  }],
  hostCase('mutex'),
  hostCase('semaphore'),
  hostCase('join'),
  ['getpid', async (ctx) => {
    const pid = await k(ctx).sys.getpid!()
    return check(pid > 0, String(pid))
  }],
  ['syscall_latency', async (ctx) => {
    const times: number[] = []
    for (let i = 0; i < 1000; i++) {
      const start = process.hrtime.bigint()
      await k(ctx).sys.getpid!()
      times.push(Number(process.hrtime.bigint() - start))
    }
    const avg = times.reduce((a, b) => a + b, 0) / times.length
    return check(true, `avg/min/max ns: ${avg.toFixed(0)}/${Math.min(...times)}/${Math.max(...times)}`)
  }],
  ['umask', async (ctx) => {
    const old = await k(ctx).sys.umask!(0o777)
    return check(old === 0o22, `0${old.toString(8)}`)
  }],
  ['umask2', async (ctx) => {
    const old = await k(ctx).sys.umask!(0)
    return check(old === 0o777, `0${old.toString(8)}`)
  }],
  ['creat', async (ctx) => {
    const { AT_FDCWD, O_CREAT, O_WRONLY, O_TRUNC } = k(ctx).constants
    ctx.fd = await k(ctx).sys.openat!(AT_FDCWD, '/file', O_CREAT! | O_WRONLY! | O_TRUNC!, 0o721)
    return check(ctx.fd >= 0, String(ctx.fd))
  }],
  ['close', async (ctx) => check(await k(ctx).sys.close!(ctx.fd) === 0, '0')],
  ['failopen', async (ctx) => {
    const error = await k(ctx).sys.openat!(k(ctx).constants.AT_FDCWD, '/file2', 0, 0).catch((e: unknown) => e)
    return check(error instanceof LinuxError && error.code === 'ENOENT', String(error))
  }],
  ['open', async (ctx) => {
    ctx.fd = await k(ctx).sys.openat!(k(ctx).constants.AT_FDCWD, '/file', k(ctx).constants.O_RDWR, 0)
    return check(ctx.fd >= 0, String(ctx.fd))
  }],
  ['write', async (ctx) => {
    const n = await k(ctx).sys.write!(ctx.fd, text.encode('test\0'), 5)
    return check(n === 5, String(n))
  }],
  ['lseek_cur', async (ctx) => {
    const pos = await llseek(k(ctx), ctx.fd, 0, k(ctx).constants.SEEK_CUR!)
    return check(pos === 5n, String(pos))
  }],
  ['lseek_end', async (ctx) => {
    const pos = await llseek(k(ctx), ctx.fd, 0, k(ctx).constants.SEEK_END!)
    return check(pos === 5n, String(pos))
  }],
  ['lseek_set', async (ctx) => {
    const pos = await llseek(k(ctx), ctx.fd, 0, k(ctx).constants.SEEK_SET!)
    return check(pos === 0n, String(pos))
  }],
  ['read', async (ctx) => {
    const buf = new Uint8Array(5)
    const n = await k(ctx).sys.read!(ctx.fd, buf, 5)
    const got = new TextDecoder().decode(buf.subarray(0, 4))
    return check(n === 5 && got === 'test' && buf[4] === 0, `${n} ${JSON.stringify(got)}`)
  }],
  ['fstat', async (ctx) => {
    const buf = k(ctx).buffer('stat64')
    await k(ctx).sys.fstat64!(ctx.fd, buf)
    const st = k(ctx).decode('stat64', buf)
    const mode = st.st_mode as number
    return check(st.st_size === 5n && mode === (0o721 | k(ctx).constants.S_IFREG!),
      `size ${st.st_size} mode 0${mode.toString(8)}`)
  }],
  ['mkdir', async (ctx) => {
    const r = await k(ctx).sys.mkdirat!(k(ctx).constants.AT_FDCWD, '/mnt', 0o721)
    return check(r === 0, String(r))
  }],
  ['stat', async (ctx) => {
    const buf = k(ctx).buffer('stat64')
    await k(ctx).sys.fstatat64!(k(ctx).constants.AT_FDCWD, '/mnt', buf, 0)
    const mode = k(ctx).decode('stat64', buf).st_mode as number
    return check(mode === (0o721 | k(ctx).constants.S_IFDIR!), `mode 0${mode.toString(8)}`)
  }],
  ['nanosleep', async (ctx) => {
    const ns = 87_654_321
    const ts = k(ctx).encode('timespec', { tv_sec: 0n, tv_nsec: BigInt(ns) })
    const start = process.hrtime.bigint()
    await k(ctx).sys.clock_nanosleep_time64!(k(ctx).constants.CLOCK_MONOTONIC, 0, ts, null)
    const elapsed = Number(process.hrtime.bigint() - start)
    return check(elapsed >= ns * 0.9, `slept ${elapsed} ns`)
  }],
  ['pipe2', async (ctx) => {
    const fds = new Uint8Array(8)
    await k(ctx).sys.pipe2!(fds, k(ctx).constants.O_NONBLOCK)
    const [rd, wr] = [...new Int32Array(fds.buffer)] as [number, number]
    const message = text.encode('Hello world!')
    await k(ctx).sys.write!(wr, message, message.length)
    const buf = new Uint8Array(message.length)
    const n = await k(ctx).sys.read!(rd, buf, buf.length)
    await k(ctx).sys.close!(rd)
    await k(ctx).sys.close!(wr)
    const got = new TextDecoder().decode(buf)
    return check(n === message.length && got === 'Hello world!', JSON.stringify(got))
  }],
  ['epoll', async (ctx) => {
    const kernel = k(ctx)
    const { EPOLL_CTL_ADD, EPOLLIN, O_NONBLOCK } = kernel.constants
    const fds = new Uint8Array(8)
    await kernel.sys.pipe2!(fds, O_NONBLOCK)
    const [rd, wr] = [...new Int32Array(fds.buffer)] as [number, number]
    const epfd = await kernel.sys.epoll_create1!(0)
    await kernel.sys.epoll_ctl!(epfd, EPOLL_CTL_ADD, rd, kernel.encode('epoll_event', { events: EPOLLIN!, data: BigInt(rd) }))
    const events = new Uint8Array(kernel.buffer('epoll_event').length)
    const before = await kernel.sys.epoll_pwait!(epfd, events, 1, 0, null, 0)
    await kernel.sys.write!(wr, text.encode('x'), 1)
    const after = await kernel.sys.epoll_pwait!(epfd, events, 1, 0, null, 0)
    for (const fd of [epfd, rd, wr]) await kernel.sys.close!(fd)
    return check(before === 0 && after === 1, `${before} events before the write, ${after} after`)
  }],
  ['mount_fs_proc', async (ctx) => {
    await k(ctx).sys.mkdirat!(k(ctx).constants.AT_FDCWD, '/proc', 0o555).catch((e: unknown) => {
      if (!(e instanceof LinuxError && e.code === 'EEXIST')) throw e
    })
    const r = await k(ctx).sys.mount!('proc', '/proc', 'proc', 0, null)
    return check(r === 0, String(r))
  }],
  ['chdir_proc', async (ctx) => check(await k(ctx).sys.chdir!('/proc') === 0, '0')],
  ['open_cwd', async (ctx) => {
    const { AT_FDCWD, O_DIRECTORY, O_RDONLY } = k(ctx).constants
    ctx.dirFd = await k(ctx).sys.openat!(AT_FDCWD, '.', O_DIRECTORY! | O_RDONLY!, 0)
    return check(ctx.dirFd >= 0, String(ctx.dirFd))
  }],
  ['getdents64', async (ctx) => {
    const buf = new Uint8Array(4096)
    const n = await k(ctx).sys.getdents64!(ctx.dirFd, buf, buf.length)
    const names: string[] = []
    for (let off = 0; off < n;) {
      const d = k(ctx).decode('linux_dirent64', buf, off)
      const name = d.d_name as Uint8Array
      names.push(new TextDecoder().decode(name.subarray(0, name.indexOf(0))))
      off += d.d_reclen as number
    }
    return check(names.includes('self') && names.includes('meminfo'), names.join(' '))
  }],
  ['close_dir_fd', async (ctx) => check(await k(ctx).sys.close!(ctx.dirFd) === 0, '0')],
  ['chdir_root', async (ctx) => check(await k(ctx).sys.chdir!('/') === 0, '0')],
  ['umount_fs_proc', async (ctx) => check(await k(ctx).sys.umount!('/proc', 0) === 0, '0')],
  ['lo_ifup', async (ctx) => {
    const r = await k(ctx).ifUp(1)
    return check(r === 'lo', `interface 1 is ${r}`)
  }],
  ['gettid', async (ctx) => {
    const tid = await k(ctx).sys.gettid!()
    return check(tid > 0, String(tid))
  }],
  ['syscall_thread', async (ctx) => {
    const kernel = k(ctx)
    const fds = new Uint8Array(8)
    await kernel.sys.pipe2!(fds, 0)
    const [rd, wr] = [...new Int32Array(fds.buffer)] as [number, number]
    await kernel.sys.fcntl64!(rd, kernel.constants.F_SETPIPE_SZ, 1)
    await using reader = await kernel.thread()
    const buf = new Uint8Array(PIPE_BUF + 1)
    const reading = reader.sys.read!(rd, buf, buf.length)
    const written = await kernel.sys.write!(wr, new Uint8Array(PIPE_BUF + 1).fill(7), PIPE_BUF + 1)
    const read = await reading
    for (const fd of [rd, wr]) await kernel.sys.close!(fd)
    return check(written === PIPE_BUF + 1 && read > 0, `wrote ${written}, the blocked reader got ${read}`)
  }],
  ['many_syscall_threads', async (ctx) => {
    const kernel = k(ctx)
    const pids = await Promise.all(Array.from({ length: 64 }, async () => {
      await using thread = await kernel.thread()
      return thread.sys.getpid!()
    }))
    return check(pids.every((p) => p === pids[0]), `64 threads saw pid ${[...new Set(pids)].join(', ')}`)
  }],
  ['new_tgid_threads', async (ctx) => {
    const kernel = k(ctx)
    const parent = await kernel.sys.getpid!()
    const seen = await Promise.all(Array.from({ length: 64 }, async () => {
      await using thread = await kernel.thread({ newThreadGroup: true })
      return [await thread.sys.getpid!(), await thread.sys.getppid!()] as const
    }))
    const ok = seen.every(([pid, ppid]) => pid !== parent && ppid === parent)
    return check(ok, `parent ${parent}; children (pid/ppid): ${seen.slice(0, 4).map((s) => s.join('/')).join(' ')} ...`)
  }],
  ['stop_kernel', async (ctx) => {
    const r = await k(ctx).halt()
    return check(r === 0, String(r))
  }],
]

/** The YAML block under a TAP line. */
function yaml(timeUs: number, log: string): string {
  const lines = log.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')
  return `  ---\n  time_us: ${timeUs}\n  log: |\n${lines || '    '}\n  ...`
}

/** Run the sequence, printing TAP to out; resolves with whether every case passed. */
export async function bootTest(out: (line: string) => void = console.log): Promise<boolean> {
  const ctx: BootContext = { kernel: null, fd: -1, dirFd: -1, bootLog: '' }
  out('TAP version 13')
  out(`1..${CASES.length}`)
  let passed = 0
  for (const [i, [name, run]] of CASES.entries()) {
    const start = process.hrtime.bigint()
    const result = await run(ctx).catch((error: unknown) => check(false, error instanceof Error ? error.stack ?? error.message : String(error)))
    const timeUs = Number((process.hrtime.bigint() - start) / 1000n)
    if (result.ok) passed++
    out(`${result.ok ? 'ok' : 'not ok'} ${i + 1} ${name}`)
    out(yaml(timeUs, result.log))
  }
  out(`# ${passed} of ${CASES.length} passed`)
  return passed === CASES.length
}
