// SPDX-License-Identifier: MIT
// Programs that go wrong end their runtime with a typed error naming the fiber.
import { describe, expect, it } from 'vitest'
import {
  AsyncifyOverflowError, DeadlockError, HostOpMisuseError, PanicError, RuntimeFailedError,
} from '../../src/errors.js'
import { loadFixture } from '../support/fixture.js'

describe('failures become typed errors', () => {
  it('a deadlock rejects with every blocked fiber and what it waits on', async () => {
    await using fx = await loadFixture('failures')
    const error = await fx.run('deadlock').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DeadlockError)
    const { blocked } = error as DeadlockError
    expect(blocked.map((b) => b.fiber).sort()).toEqual(['deadlock#1', 'thread#2'])
    expect(blocked.find((b) => b.fiber === 'deadlock#1')?.waitsOn).toBe('join of thread#2')
    expect(blocked.find((b) => b.fiber === 'thread#2')?.waitsOn).toMatch(/^mutex 0x/)
    await expect(fx.run('double_sem_free')).rejects.toBeInstanceOf(RuntimeFailedError)
    fx.runtime.sched.close(new Error('test over'))
    expect(fx.runtime.sched.liveFibers, 'fibers left after close').toBe(0)
    expect(fx.runtime.sched.heap.stats.liveBlocks, 'stacks or buffers left after close').toBe(0)
  })

  it('an asyncify buffer overflow names the fiber; the process carries on', async () => {
    await using fx = await loadFixture('failures')
    const error = await fx.runWith({ name: 'diver', bufferSize: 256 }, 'block_deep', 100).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AsyncifyOverflowError)
    expect((error as Error).message).toContain('diver#1')
    await using fresh = await loadFixture('threads')
    expect(await fresh.run('join_rules')).toBe(0)
  })

  it('the same depth fits in the default buffer', async () => {
    await using fx = await loadFixture('failures')
    const result = fx.run('block_deep', 100).catch((e: unknown) => e)
    // It blocks forever on a semaphore nobody ups: that is a deadlock, not an overflow.
    expect(await result).toBeInstanceOf(DeadlockError)
  })

  it.each([
    ['unlock_foreign', 'mutex_unlock', 'thread#2', /owned by another fiber/],
    ['double_sem_free', 'sem_free', 'double_sem_free#1', /already freed/],
    ['bad_handle', 'sem_up', 'bad_handle#1', /0x7777 is not a semaphore/],
    ['relock', 'mutex_lock', 'relock#1', /already holds/],
  ])('misuse: %s → HostOpMisuseError from %s in %s', async (entry, op, fiber, detail) => {
    await using fx = await loadFixture('failures')
    const error = await fx.run(entry).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HostOpMisuseError)
    expect(error).toMatchObject({ op, fiber })
    expect((error as Error).message).toMatch(detail)
  })

  it('abort() is a panic carrying the console tail', async () => {
    await using fx = await loadFixture('failures')
    const error = await fx.run('call_abort').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PanicError)
    expect((error as PanicError).consoleTail).toContain('about to abort')
  })
})
