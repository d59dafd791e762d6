// SPDX-License-Identifier: MIT
// A syscall that spins in the kernel does not keep the one CPU from everyone else: other callers'
// syscalls and timers run meanwhile, halt finishes, and the soft-lockup watchdog names a task that
// holds the CPU past its bound.
//
// One spinner is real: with random.trust_cpu=0 the host's seed is mixed in but not credited, so the
// crng starts unready and getrandom loops in try_to_generate_entropy (through schedule(), never
// sleeping) until a timer_list timer has credited 256 bits, one per tick: 2.56 s at the least.
// The others never call schedule(): /proc/wasm-spin (the arch's test hook, kernel/spin.c) makes
// the writer loop until another task releases it, with nothing in the loop or with cpu_relax(),
// so only preemption at the loop lets the releasing task run.
import { describe, expect, it } from 'vitest'
import { type Kernel, KernelStoppedError, type KernelThread, SoftLockupError, startKernel } from '../../src/index.js'

const UNCREDITED_SEED = 'random.trust_cpu=0'

/** A call that never settles fails the test with its name instead of running into vitest's timeout. */
async function settles<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within 30 s`)), 30_000)
  })
  try {
    return await Promise.race([promise, hang])
  } finally {
    clearTimeout(timer)
  }
}

describe('timers', () => {
  it('a timer_list timeout expires: recvfrom with a 100 ms SO_RCVTIMEO gives EAGAIN', async () => {
    await using k = await startKernel()
    const { AF_INET, SOCK_DGRAM, SOL_SOCKET, SO_RCVTIMEO_NEW } = k.constants
    const sock = await k.sys.socket(AF_INET, SOCK_DGRAM, 0)
    // struct __kernel_sock_timeval: 64-bit seconds, then 64-bit microseconds.
    const timeout = new Uint8Array(16)
    new DataView(timeout.buffer).setBigInt64(8, 100_000n, true)
    await k.sys.setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO_NEW, timeout, timeout.length)
    // The wait is a schedule_timeout: a timer of the timer wheel, which only the tick runs.
    const received = k.sys.recvfrom(sock, new Uint8Array(16), 16, 0, null, null)
    await expect(settles('recvfrom with a receive timeout', received)).rejects.toMatchObject({ code: 'EAGAIN' })
  })
})

describe('a spinning syscall', () => {
  it('lets another thread\'s syscalls and timers run, and halt finish', async () => {
    const k = await startKernel({ cmdline: UNCREDITED_SEED })
    let spinnerDone = false
    const spinner = k.sys.getrandom(new Uint8Array(14), 14, 0).finally(() => {
      spinnerDone = true
    })
    spinner.catch(() => undefined)
    // Let the spinner take the CPU first.
    await new Promise((resolve) => setTimeout(resolve, 50))

    await using other = await k.thread()
    expect(await settles('getpid on a fresh thread', other.sys.getpid())).toBe(1)
    // struct __kernel_timespec: two 64-bit fields, seconds and nanoseconds.
    const tenMs = new Uint8Array(16)
    new DataView(tenMs.buffer).setBigInt64(8, 10_000_000n, true)
    expect(await settles('a 10 ms sleep', other.sys.clock_nanosleep_time64(k.constants.CLOCK_MONOTONIC, 0, tenMs, null))).toBe(0)
    expect(spinnerDone, 'getrandom returned before the other calls: nothing was shown').toBe(false)

    expect(await settles('halt', k.halt())).toBe(0)
  })

  it('that holds the CPU past the bound is a SoftLockupError naming it, with the kernel\'s tasks', async () => {
    const k = await startKernel({ cmdline: UNCREDITED_SEED, softLockupMs: 300 })
    const error = await settles('getrandom', k.sys.getrandom(new Uint8Array(14), 14, 0)).then(
      (result) => new Error(`getrandom returned ${result}: the watchdog never fired`),
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(SoftLockupError)
    const lockup = error as SoftLockupError
    expect(lockup.task).toMatch(/^host\d+ \(pid \d+\)$/)
    expect(lockup.heldMs).toBeGreaterThan(300)
    const holder = lockup.tasks.find((t) => lockup.task.startsWith(`${t.comm} (pid ${t.pid})`))
    expect(holder, 'the holder among the tasks').toMatchObject({ state: 'R' })
    expect(lockup.tasks.map((t) => t.comm)).toEqual(expect.arrayContaining(['init', 'kthreadd']))
    await expect(k.sys.getpid()).rejects.toThrow()
  })
})

/** The arch's test hook: see wasm/arch/wasm/kernel/spin.c. */
const SPIN_FILE = '/proc/wasm-spin'
/* Well past a few ticks, so that a kernel that does preempt never trips it; a kernel that does not fails in 5 s. */
const LOCKUP_MS = 5_000

interface SpinSetup {
  k: Kernel
  spinner: KernelThread
  other: KernelThread
  /** Descriptors of /proc/wasm-spin, one per thread. */
  spinnerFd: number
  otherFd: number
}

/**
 * A kernel with proc mounted and two threads holding /proc/wasm-spin open. body ends with a halt;
 * when it fails instead, the kernel is stopped (by force if need be), so that no spinner is left
 * burning the CPU under the next test.
 */
async function withSpinFile(body: (setup: SpinSetup) => Promise<void>): Promise<void> {
  const k = await startKernel({ softLockupMs: LOCKUP_MS })
  try {
    const { AT_FDCWD, O_RDWR } = k.constants
    await k.mountFs('proc')
    const spinner = await k.thread()
    const other = await k.thread()
    const spinnerFd = await spinner.sys.openat(AT_FDCWD, SPIN_FILE, O_RDWR, 0)
    const otherFd = await other.sys.openat(AT_FDCWD, SPIN_FILE, O_RDWR, 0)
    await body({ k, spinner, other, spinnerFd, otherFd })
  } catch (error) {
    await k.halt({ timeoutMs: 1_000 }).catch(() => undefined)
    throw error
  }
}

/** How many tasks spin in /proc/wasm-spin now, read on thread t through its descriptor fd. */
async function spinners(t: KernelThread, fd: number): Promise<number> {
  const text = new Uint8Array(16)
  const n = await settles('a read of /proc/wasm-spin', t.sys.pread64(fd, text, text.length, 0))
  return Number(new TextDecoder().decode(text.subarray(0, n)))
}

describe('a task spinning in the kernel without calling schedule()', () => {
  it.each(['spin', 'relax'])('(%s loop) lets other callers\' syscalls and timers run, and the task that releases it', async (mode) => {
    await withSpinFile(async ({ k, spinner, other, spinnerFd, otherFd }) => {
      const events: string[] = []
      const spinning = spinner.sys.write(spinnerFd, mode, mode.length).finally(() => events.push('spinner returned'))
      spinning.catch(() => undefined)
      // Each read is a syscall of its own: once one sees the spinner, the spinner is in its loop.
      for (let reads = 1; (await spinners(other, otherFd)) === 0; reads++) {
        expect(reads, 'reads before the spinner was seen in its loop').toBeLessThan(10_000)
      }
      expect(await settles('getpid while a task spins', other.sys.getpid())).toBe(1)
      // struct __kernel_timespec: two 64-bit fields, seconds and nanoseconds.
      const tenMs = new Uint8Array(16)
      new DataView(tenMs.buffer).setBigInt64(8, 10_000_000n, true)
      const sleep = other.sys.clock_nanosleep_time64(k.constants.CLOCK_MONOTONIC, 0, tenMs, null)
      expect(await settles('a 10 ms sleep while a task spins', sleep)).toBe(0)
      expect(await spinners(other, otherFd), 'the spinner is still in its loop').toBe(1)

      events.push('release')
      expect(await settles('the release', other.sys.write(otherFd, 'release', 7))).toBe(7)
      expect(await settles('the spinner', spinning)).toBe(mode.length)
      expect(events).toEqual(['release', 'spinner returned'])
      expect(await spinners(other, otherFd)).toBe(0)
      expect(await spinner.sys.getpid(), 'the spinner\'s thread goes on').toBe(1)
      expect(await settles('halt', k.halt())).toBe(0)
    })
  })

  it('does not keep halt out: halt finishes while it spins, and its call ends with KernelStoppedError', async () => {
    await withSpinFile(async ({ k, spinner, other, spinnerFd, otherFd }) => {
      const spinning = spinner.sys.write(spinnerFd, 'spin', 4)
      spinning.catch(() => undefined)
      for (let reads = 1; (await spinners(other, otherFd)) === 0; reads++) {
        expect(reads, 'reads before the spinner was seen in its loop').toBeLessThan(10_000)
      }
      expect(await settles('halt while a task spins', k.halt())).toBe(0)
      await expect(settles('the spinner', spinning)).rejects.toBeInstanceOf(KernelStoppedError)
    })
  })

  it('keeps the others out while it has preemption disabled, but takes interrupts (jiffies advance)', async () => {
    await withSpinFile(async ({ k, spinner, other, spinnerFd }) => {
      expect(await other.sys.getpid()).toBe(1)
      const events: string[] = []
      // Five jiffies in a loop between preempt_disable() and preempt_enable(): it only ends if the
      // tick's interrupt runs inside the loop. The getpid, issued while it runs, must wait for it.
      const atomic = spinner.sys.write(spinnerFd, 'atomic', 6).finally(() => events.push('atomic loop returned'))
      const pid = other.sys.getpid().finally(() => events.push('getpid answered'))
      for (const call of [atomic, pid]) call.catch(() => undefined)
      expect(await settles('the atomic loop', atomic)).toBe(6)
      expect(await settles('getpid', pid)).toBe(1)
      expect(events).toEqual(['atomic loop returned', 'getpid answered'])
      expect(await settles('halt', k.halt())).toBe(0)
    })
  })
})
