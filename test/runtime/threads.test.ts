// SPDX-License-Identifier: MIT
// Threads as fibers: creation, exit, join rules and TLS destructors.
import { beforeAll, describe, expect, it } from 'vitest'
import { FIBERS, loadFixture, prepareFixture } from '../support/fixture.js'

/** Instantiate the prebuilt fixture and create, run and join up to 1000 threads. */
const BUDGET_MS = 20_000

describe('threads', () => {
  beforeAll(() => prepareFixture('threads'))

  it('1000 threads are created, run and joined; each TLS destructor runs exactly once', async () => {
    await using fx = await loadFixture('threads')
    expect(await fx.run('many_threads', 1000), fx.console()).toBe(0)
    expect(fx.runtime.sched.liveFibers).toBe(0)
    expect(fx.runtime.sched.heap.stats.liveBlocks, 'stacks or buffers leaked').toBe(0)
  }, BUDGET_MS)

  it('a second join, a self-join and a join of a detached thread return -1', async () => {
    await using fx = await loadFixture('threads')
    expect(await fx.run('join_rules'), fx.console()).toBe(0)
  }, BUDGET_MS)

  it('a worker keeps its identity and TLS from one call to the next; retiring it runs its destructors', async () => {
    await using fx = await loadFixture('threads')
    const worker = fx.runtime.createWorker({ name: 'syscaller' })!
    const other = fx.runtime.createWorker()!
    expect(await worker.call('count_calls')).toBe(1)
    expect(await worker.call('count_calls')).toBe(2)
    expect(await other.call('count_calls')).toBe(1)
    expect(await worker.call('count_calls')).toBe(3)
    expect(worker.fiber.state).toBe('idle')
    await worker.retire()
    await other.retire()
    expect(await fx.run('retired_workers')).toBe(2)
    expect(fx.runtime.sched.liveFibers).toBe(0)
  }, BUDGET_MS)

  it('a worker\'s call made while the CPU is free comes back settled from run(); with a fiber waiting for the CPU, it waits its turn', async () => {
    await using fx = await loadFixture('threads')
    const worker = fx.runtime.createWorker({ name: 'fast' })!
    const first = worker.run('count_calls')
    if (FIBERS === 'jspi') {
      // A promising call's result is a promise, whatever the call did.
      expect(first.settled).toBe(false)
      expect(await (first.settled ? first.value : first.promise)).toBe(1)
    } else {
      expect(worker.idle, 'the call ran on the caller\'s stack').toBe(true)
      expect(first).toEqual({ settled: true, value: 1 })
    }
    expect(fx.runtime.sched.callersWaiting, 'a settled call leaves no caller waiting').toBe(0)
    const queued = fx.run('count_calls')
    const second = worker.run('count_calls')
    expect(worker.idle).toBe(false)
    expect(second.settled).toBe(false)
    expect(await (second.settled ? second.value : second.promise)).toBe(2)
    expect(await queued).toBe(1)
    expect(await worker.call('count_calls'), 'call() is run() as a promise').toBe(3)
    await worker.retire()
  }, BUDGET_MS)

  it('thread_return ends a worker\'s call from deep frames with its value; the worker and its TLS go on', async () => {
    await using fx = await loadFixture('threads')
    const worker = fx.runtime.createWorker({ name: 'returner' })!
    expect(await worker.call('count_calls')).toBe(1)
    expect(await worker.call('return_midway', [20, 42]), fx.console()).toBe(42)
    expect(worker.fiber.state).toBe('idle')
    expect(await worker.call('count_calls')).toBe(2)
    expect(await worker.call('return_midway', [0, -7])).toBe(-7)
    await worker.retire()
    expect(fx.runtime.sched.liveFibers).toBe(0)
  }, BUDGET_MS)

  it('a thread takes its C stack from the heap, and on asyncify an asyncify buffer too (a JSPI thread has none)', async () => {
    await using fx = await loadFixture('threads')
    const before = fx.runtime.stats().heap.usedBytes
    const worker = fx.runtime.createWorker({ name: 'sized', stackSize: 32 * 1024, bufferSize: 8 * 1024 })!
    const used = fx.runtime.stats().heap.usedBytes - before
    // Block headers and alignment may add a little to each.
    if (FIBERS === 'asyncify') expect(used).toBeGreaterThanOrEqual(40 * 1024)
    else expect(used).toBeLessThan(40 * 1024)
    expect(used).toBeGreaterThanOrEqual(32 * 1024)
    expect(await worker.call('count_calls')).toBe(1)
    await worker.retire()
    expect(fx.runtime.stats().heap.usedBytes).toBe(before)
  }, BUDGET_MS)

  it('a runtime closed while a call is on its way onto the CPU rejects it, and the late fiber changes nothing', async () => {
    await using fx = await loadFixture('threads')
    const worker = fx.runtime.createWorker({ name: 'late' })!
    expect(await worker.call('return_midway', [0, 5])).toBe(5)
    const late = worker.run('return_midway', [0, 6])
    const closing = new Error('closed mid-call')
    fx.runtime.close(closing)
    if (FIBERS === 'asyncify') {
      // It ran on the caller's stack before the close.
      expect(late).toEqual({ settled: true, value: 6 })
    } else {
      // JSPI resumes the fiber in a microtask: the close came first.
      expect(late.settled).toBe(false)
      expect(await (late.settled ? late.value : late.promise.catch((error: unknown) => error))).toBe(closing)
    }
    // The fiber, resumed after the close, stops without an error escaping (vitest fails on an unhandled one).
    await new Promise((resolve) => setImmediate(resolve))
    expect(fx.runtime.failure).toBe(closing)
  }, BUDGET_MS)

  it('a worker that calls thread_exit during a call rejects that call instead of returning nothing', async () => {
    await using fx = await loadFixture('threads')
    const worker = fx.runtime.createWorker({ name: 'quitter' })!
    await expect(worker.call('exit_midway')).rejects.toThrow(/quitter#1 exited during a call/)
    expect(worker.fiber.state).toBe('exited')
  }, BUDGET_MS)
})
