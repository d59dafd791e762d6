// SPDX-License-Identifier: MIT
// The soft-lockup watchdog reaches loops that cannot block: with the kernel's instrumentation
// ('blocking-functions') such a loop gets only the watchdog's check, and that is enough to end it.
import { beforeAll, describe, expect, it } from 'vitest'
import { SoftLockupError } from '../../src/errors.js'
import { loadFixture, prepareFixture } from '../support/fixture.js'

const BUILD = { instrument: { preempt: 'blocking-functions', asyncify: true } } as const
/** How long the spinner holds on when no watchdog stops it. */
const SPIN_BUDGET_MS = 5_000
const BOUND_MS = 200

describe('the soft-lockup watchdog', () => {
  beforeAll(() => prepareFixture('watchdog', BUILD))

  it('ends a loop that cannot block and holds on past the bound, naming the holder', async () => {
    await using fx = await loadFixture('watchdog', { ...BUILD, softLockupMs: BOUND_MS })
    const error = await fx.run('spin_holding', SPIN_BUDGET_MS).then(
      (result) => new Error(`the spinner ran its whole budget and returned ${result}: the watchdog never fired`),
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(SoftLockupError)
    expect(error).toMatchObject({ task: 'spinner (pid 7)', boundMs: BOUND_MS })
    expect((error as SoftLockupError).heldMs).toBeGreaterThan(BOUND_MS)
    expect((error as SoftLockupError).tasks).toEqual([{ pid: 1, state: 'S', comm: 'init' }, { pid: 7, state: 'R', comm: 'spinner' }])
  }, 2 * SPIN_BUDGET_MS)

  it('leaves a loop alone that holds on for less than the bound', async () => {
    await using fx = await loadFixture('watchdog', { ...BUILD, softLockupMs: 10 * BOUND_MS })
    expect(await fx.run('spin_holding', BOUND_MS)).toBe(0)
  }, 2 * SPIN_BUDGET_MS)
})
