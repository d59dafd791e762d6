// SPDX-License-Identifier: MIT
// A syscall that spins in the kernel does not keep the one CPU from everyone else: other callers'
// syscalls and timers run meanwhile, halt finishes, and the soft-lockup watchdog names a task that
// holds the CPU past its bound.
//
// The spinner is real: with random.trust_cpu=0 the host's seed is mixed in but not credited, so the
// crng starts unready and getrandom loops in try_to_generate_entropy (through schedule(), never
// sleeping) until a timer_list timer has credited 256 bits, one per tick: 2.56 s at the least.
import { describe, expect, it } from 'vitest'
import { SoftLockupError, startKernel } from '../../src/index.js'

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
