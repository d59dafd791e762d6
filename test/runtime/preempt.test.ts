// SPDX-License-Identifier: MIT
// Preemption: loops that never call the host still let other fibers and Node run.
import { describe, expect, it } from 'vitest'
import { PRIORITY_DEFAULT } from '../../src/sched/fiber.js'
import { loadFixture } from '../support/fixture.js'

describe('preemption', () => {
  it('a fiber spinning on a flag set by another fiber of the same priority finishes', async () => {
    await using fx = await loadFixture('preempt')
    const spinner = fx.run('spin_until_flag')
    const setter = fx.run('set_flag')
    expect(await setter).toBe(0)
    expect(await spinner).toBeGreaterThan(0)
  })

  it('a higher-priority spinner lets a lower-priority setter run once its quantum expires', async () => {
    await using fx = await loadFixture('preempt')
    const spinner = fx.runWith({ priority: PRIORITY_DEFAULT + 8 }, 'spin_until_flag')
    const setter = fx.runWith({ priority: PRIORITY_DEFAULT - 8 }, 'set_flag')
    expect(await setter).toBe(0)
    expect(await spinner).toBeGreaterThan(0)
  })

  it('a setTimeout(0) fires long before a 300 ms spin ends', async () => {
    await using fx = await loadFixture('preempt')
    const start = performance.now()
    let timeoutAt = Infinity
    setTimeout(() => { timeoutAt = performance.now() - start }, 0)
    await fx.run('spin_for_ms', 300)
    const spinEnd = performance.now() - start
    expect(spinEnd).toBeGreaterThanOrEqual(300)
    expect(timeoutAt, `timer fired at ${timeoutAt} ms, spin ended at ${spinEnd} ms`).toBeLessThan(100)
  })
})
