// SPDX-License-Identifier: MIT
// LKL's host-level boot tests (mutex, semaphore, join) and the primitives behind them.
import { beforeAll, describe, expect, it } from 'vitest'
import { loadFixture, prepareFixture } from '../support/fixture.js'

/** The fixture, with LKL's host-level cases (the kernel image links the same file). */
const LKL_HOST_BUILD = { extraSources: ['src/host-ops/host-selftest.c'] }
const lklHost = () => loadFixture('lkl-host', LKL_HOST_BUILD)
/** Instantiate the prebuilt fixture and pass a token a few thousand times. */
const BUDGET_MS = 10_000

beforeAll(() => prepareFixture('lkl-host', LKL_HOST_BUILD))

describe('LKL host-level boot tests on the fiber host', () => {
  it('mutex: a plain mutex, then a recursive one locked twice', async () => {
    await using fx = await lklHost()
    expect(await fx.run('host_selftest_mutex')).toBe(0)
  }, BUDGET_MS)

  it('semaphore: down, up, free', async () => {
    await using fx = await lklHost()
    expect(await fx.run('host_selftest_semaphore')).toBe(0)
  }, BUDGET_MS)

  it('join: a created thread is joined with 0', async () => {
    await using fx = await lklHost()
    expect(await fx.run('host_selftest_join')).toBe(0)
    expect(fx.runtime.sched.liveFibers, 'fibers left behind after join').toBe(0)
  }, BUDGET_MS)
})

describe('semaphores and mutexes order fibers', () => {
  it('8 threads yielding inside one mutex never hold it together', async () => {
    await using fx = await lklHost()
    expect(await fx.run('mutex_excludes', 8, 50), fx.console()).toBe(0)
  }, BUDGET_MS)

  it('N fibers ping-pong a token through semaphores, the shared counter checked at every step', async () => {
    await using fx = await lklHost()
    expect(await fx.run('ping_pong', 2, 500), fx.console()).toBe(0)
    expect(await fx.run('ping_pong', 16, 100), fx.console()).toBe(0)
  }, BUDGET_MS)

  it('mem_alloc of more than 2 GiB returns NULL instead of a small block', async () => {
    await using fx = await lklHost()
    expect(await fx.run('huge_alloc_fails')).toBe(0)
  }, BUDGET_MS)
})
