// SPDX-License-Identifier: MIT
// One-shot host timers and the clock.
import { beforeAll, describe, expect, it } from 'vitest'
import { loadFixture, prepareFixture } from '../support/fixture.js'

/** Instantiate the prebuilt fixture and wait for timers of at most 30 ms. */
const BUDGET_MS = 10_000

describe('timers', () => {
  beforeAll(() => prepareFixture('timers'))

  it('fire in deadline order; a freed or re-armed timer never fires stale', async () => {
    await using fx = await loadFixture('timers')
    expect(await fx.run('timer_order'), fx.console()).toBe(0)
  }, BUDGET_MS)

  it('a callback may re-arm its own timer', async () => {
    await using fx = await loadFixture('timers')
    expect(await fx.run('timer_rearm', 5)).toBe(5)
  }, BUDGET_MS)

  it('a wait on a 30 ms timer lasts at least 30 ms of the host clock', async () => {
    await using fx = await loadFixture('timers')
    const elapsedNs = await fx.run('sleep_ms', 30)
    expect(elapsedNs).toBeGreaterThanOrEqual(30e6)
  }, BUDGET_MS)
})
