// SPDX-License-Identifier: MIT
/*
 * Programs that go wrong end their runtime with a typed error naming the fiber:
 * each of the runtime's safety nets (deadlock detector, asyncify bound, stack
 * canary, trap report, sync-op guard, misuse checks, scheduler invariants) has a
 * case here that fails when the net is taken away.
 *
 * Budgets: the fixture is built once in beforeAll; a test then instantiates it and
 * runs a few host ops, so FAILURE_BUDGET_MS is ample. A net that is gone shows as
 * a wrong error, a call that resolves, or a call that never settles: the budget
 * turns that last one into a failure too.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import {
  AsyncifyOverflowError, DeadlockError, FiberTrapError, HostOpMisuseError, PanicError, RuntimeFailedError,
  SchedulerInvariantError, StackOverflowError,
} from '../../src/errors.js'
import type { MmioDevice } from '../../src/host-ops/index.js'
import type { Scheduler } from '../../src/sched/scheduler.js'
import { FIBERS, loadFixture, prepareFixture } from '../support/fixture.js'

/** Instantiate a prebuilt fixture and run a handful of host ops. */
const FAILURE_BUDGET_MS = 10_000
/** The stack the overflow cases get, and twice that: what they use. */
const SMALL_STACK = 16 * 1024
const OVERFLOWING_USE = 2 * SMALL_STACK
/** Comfortably inside SMALL_STACK, with room for the frames around the fill. */
const FITTING_USE = SMALL_STACK / 2

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then((value) => expect.fail(`resolved with ${String(value)} instead of failing`), (e: unknown) => e)
}

describe('failures become typed errors', () => {
  beforeAll(async () => {
    await prepareFixture('failures')
    await prepareFixture('threads')
  })

  it('a deadlock rejects with every blocked fiber and what it waits on', async () => {
    await using fx = await loadFixture('failures')
    const error = await rejection(fx.run('deadlock'))
    expect(error).toBeInstanceOf(DeadlockError)
    const { blocked } = error as DeadlockError
    expect(blocked.map((b) => b.fiber).sort()).toEqual(['deadlock#1', 'thread#2'])
    expect(blocked.find((b) => b.fiber === 'deadlock#1')?.waitsOn).toBe('join of thread#2')
    expect(blocked.find((b) => b.fiber === 'thread#2')?.waitsOn).toMatch(/^mutex 0x/)
    await expect(fx.run('double_sem_free')).rejects.toBeInstanceOf(RuntimeFailedError)
    fx.runtime.sched.close(new Error('test over'))
    expect(fx.runtime.sched.liveFibers, 'fibers left after close').toBe(0)
    expect(fx.runtime.sched.heap.stats.liveBlocks, 'stacks or buffers left after close').toBe(0)
  }, FAILURE_BUDGET_MS)

  it('a call that blocks at once, on the caller\'s stack, is answered by the caller\'s next call, not called a deadlock', async () => {
    await using fx = await loadFixture('failures')
    const [waiter, opener] = [fx.runtime.createWorker({ name: 'waiter' })!, fx.runtime.createWorker({ name: 'opener' })!]
    const waiting = waiter.call('wait_gate')
    // It ran and blocked: nothing can wake it but JS, which has not had its say yet.
    expect(waiter.idle).toBe(false)
    expect(await opener.call('open_gate')).toBe(0)
    expect(await waiting).toBe(7)
    // Left blocked with no other caller to come, it is a deadlock (once the JS running has finished).
    await expect(waiter.call('wait_gate')).rejects.toBeInstanceOf(DeadlockError)
  }, FAILURE_BUDGET_MS)

  it('host I/O in flight is something to wait for, not a deadlock; once it ends with nothing woken, it is', async () => {
    await using fx = await loadFixture('failures')
    const endIo = fx.runtime.sched.beginExternalWait()
    let outcome: unknown = 'pending'
    const running = fx.run('deadlock').then(() => 'resolved', (error: unknown) => error)
    void running.then((value) => { outcome = value })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(outcome).toBe('pending')
    endIo()
    expect(await running).toBeInstanceOf(DeadlockError)
  }, FAILURE_BUDGET_MS)

  it('an asyncify buffer overflow names the fiber; the process carries on (JSPI has no buffer to overflow)', async () => {
    await using fx = await loadFixture('failures')
    const error = await rejection(fx.runWith({ name: 'diver', bufferSize: 256 }, 'block_deep', 100))
    if (FIBERS === 'jspi') {
      // A JSPI fiber's frames are a V8 stack: it blocks at this depth, on a semaphore nobody ups.
      expect(error).toBeInstanceOf(DeadlockError)
      return
    }
    expect(error).toBeInstanceOf(AsyncifyOverflowError)
    expect((error as Error).message).toContain('diver#1')
    await using fresh = await loadFixture('threads')
    expect(await fresh.run('join_rules')).toBe(0)
  }, FAILURE_BUDGET_MS)

  it('the same depth fits in the default buffer', async () => {
    await using fx = await loadFixture('failures')
    // It blocks forever on a semaphore nobody ups: that is a deadlock, not an overflow.
    expect(await rejection(fx.run('block_deep', 100))).toBeInstanceOf(DeadlockError)
  }, FAILURE_BUDGET_MS)

  it.each([
    ['unlock_foreign', 'mutex_unlock', 'thread#2', /owned by another fiber/],
    ['double_sem_free', 'sem_free', 'double_sem_free#1', /already freed/],
    ['bad_handle', 'sem_up', 'bad_handle#1', /0x7777 is not a semaphore/],
    ['relock', 'mutex_lock', 'relock#1', /already holds/],
  ])('misuse: %s → HostOpMisuseError from %s in %s', async (entry, op, fiber, detail) => {
    await using fx = await loadFixture('failures')
    const error = await rejection(fx.run(entry))
    expect(error).toBeInstanceOf(HostOpMisuseError)
    expect(error).toMatchObject({ op, fiber })
    expect((error as Error).message).toMatch(detail)
  }, FAILURE_BUDGET_MS)

  it('abort() is a panic carrying the console tail', async () => {
    await using fx = await loadFixture('failures')
    const error = await rejection(fx.run('call_abort'))
    expect(error).toBeInstanceOf(PanicError)
    expect((error as PanicError).consoleTail).toContain('about to abort')
  }, FAILURE_BUDGET_MS)
})

describe('the C stack canary', () => {
  beforeAll(() => prepareFixture('failures'))

  it('a fiber that uses twice its stack fails with StackOverflowError naming it and its stack size', async () => {
    await using fx = await loadFixture('failures')
    // The same fill inside the stack is fine: the canary does not fire on a deep but legal stack.
    expect(await fx.runWith({ name: 'shallow', stackSize: SMALL_STACK }, 'use_stack', FITTING_USE)).toBe(0)
    const error = await rejection(fx.runWith({ name: 'deep', stackSize: SMALL_STACK }, 'use_stack', OVERFLOWING_USE))
    expect(error).toBeInstanceOf(StackOverflowError)
    expect(error).toMatchObject({ fiber: 'deep#2', stackSize: SMALL_STACK })
  }, FAILURE_BUDGET_MS)

  it('a trap after running over the stack is reported as the overflow, not as a trap', async () => {
    await using fx = await loadFixture('failures')
    const error = await rejection(fx.runWith({ name: 'deep', stackSize: SMALL_STACK }, 'use_stack_then_trap', OVERFLOWING_USE))
    expect(error).toBeInstanceOf(StackOverflowError)
    expect(error).toMatchObject({ fiber: 'deep#1' })
  }, FAILURE_BUDGET_MS)
})

describe('wasm traps', () => {
  beforeAll(() => prepareFixture('failures'))

  it.each([
    ['trap', /unreachable/],
    ['load_out_of_bounds', /out of bounds/],
  ])('%s fails with FiberTrapError naming the fiber, the engine\'s error as its cause', async (entry, message) => {
    await using fx = await loadFixture('failures')
    const error = await rejection(fx.run(entry))
    expect(error).toBeInstanceOf(FiberTrapError)
    expect(error).toMatchObject({ fiber: `${entry}#1` })
    const cause = (error as FiberTrapError).cause
    expect(cause).toBeInstanceOf(WebAssembly.RuntimeError)
    expect((cause as Error).message).toMatch(message)
    const later = await rejection(fx.run('trap'))
    expect(later, 'a call after the trap ran on a broken runtime').toBeInstanceOf(RuntimeFailedError)
    expect((later as RuntimeFailedError).cause).toBe(error)
  }, FAILURE_BUDGET_MS)
})

describe('the sync-op guard', () => {
  beforeAll(() => prepareFixture('failures'))

  it('an op outside suspending.json that tries to suspend fails with HostOpMisuseError naming it', async () => {
    // An MMIO device's read runs inside iomem_access, a sync op: asyncify did not
    // instrument its callers, so this yield could never be unwound.
    let sched: Scheduler | null = null
    const device: MmioDevice = {
      base: 0x1000_0000, size: 0x100, cmdline: '',
      read() {
        if (sched === null) throw new Error('device read before the runtime exists')
        sched.yield(sched.current)
        return 7
      },
      write() {},
    }
    await using fx = await loadFixture('failures', { devices: [device] })
    sched = fx.runtime.sched
    const error = await rejection(fx.runWith({ name: 'reader' }, 'mmio_read', device.base))
    expect(error).toBeInstanceOf(HostOpMisuseError)
    expect(error).toMatchObject({ op: 'iomem_access', fiber: 'reader#1' })
    expect((error as Error).message).toMatch(/not listed in suspending\.json/)
  }, FAILURE_BUDGET_MS)

  it('the same device read without the yield is served', async () => {
    const device: MmioDevice = { base: 0x1000_0000, size: 0x100, cmdline: '', read: () => 7, write() {} }
    await using fx = await loadFixture('failures', { devices: [device] })
    expect(await fx.run('mmio_read', device.base)).toBe(7)
  }, FAILURE_BUDGET_MS)
})

describe('scheduler invariants', () => {
  beforeAll(() => prepareFixture('threads'))

  it('a second call on a busy worker fails with SchedulerInvariantError naming the worker; the first completes', async () => {
    await using fx = await loadFixture('threads')
    const worker = fx.runtime.createWorker({ name: 'busy' })
    if (worker === null) throw new Error('no memory for a worker')
    // A fiber already waits for the CPU, so the first call waits its turn instead of
    // running at once: the worker is busy (ready) when the second call comes.
    const queued = fx.run('count_calls')
    const first = worker.call('count_calls')
    const error = await rejection(worker.call('count_calls'))
    expect(error).toBeInstanceOf(SchedulerInvariantError)
    expect(error).toMatchObject({ fiber: 'busy#1' })
    expect((error as Error).message).toMatch(/a call on a worker needs the fiber idle, but it is ready/)
    expect(await first).toBe(1)
    expect(await queued).toBe(1)
  }, FAILURE_BUDGET_MS)

  it('a host op called outside any fiber fails with SchedulerInvariantError', async () => {
    await using fx = await loadFixture('threads')
    const countCalls = fx.runtime.instance.exports.count_calls as () => number
    expect(countCalls).toThrow(SchedulerInvariantError)
    expect(countCalls).toThrow(/called from a running fiber, not from outside the scheduler/)
  }, FAILURE_BUDGET_MS)
})
