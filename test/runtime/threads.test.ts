// SPDX-License-Identifier: MIT
// Threads as fibers: creation, exit, join rules and TLS destructors.
import { describe, expect, it } from 'vitest'
import { loadFixture } from '../support/fixture.js'

describe('threads', () => {
  it('1000 threads are created, run and joined; each TLS destructor runs exactly once', async () => {
    await using fx = await loadFixture('threads')
    expect(await fx.run('many_threads', 1000), fx.console()).toBe(0)
    expect(fx.runtime.sched.liveFibers).toBe(0)
    expect(fx.runtime.sched.heap.stats.liveBlocks, 'stacks or buffers leaked').toBe(0)
  })

  it('a second join, a self-join and a join of a detached thread return -1', async () => {
    await using fx = await loadFixture('threads')
    expect(await fx.run('join_rules'), fx.console()).toBe(0)
  })
})
