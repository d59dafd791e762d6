// SPDX-License-Identifier: MIT
// Jump points: LKL's jmp_buf_set/longjmp and C setjmp/longjmp across blocking calls.
import { beforeAll, describe, expect, it } from 'vitest'
import { loadFixture, prepareFixture } from '../support/fixture.js'

/** Instantiate the prebuilt fixture and make a few dozen jumps. */
const BUDGET_MS = 10_000

describe('jump points', () => {
  beforeAll(() => prepareFixture('jump'))

  it('jmp_buf_set calls f; a longjmp after f blocked returns from jmp_buf_set', async () => {
    await using fx = await loadFixture('jump')
    expect(await fx.run('jmp_buf_set_longjmp'), fx.console()).toBe(0)
  }, BUDGET_MS)

  it('C setjmp/longjmp from 20 frames down, after blocking, three times over', async () => {
    await using fx = await loadFixture('jump')
    expect(await fx.run('c_setjmp_longjmp', 20), fx.console()).toBe(0)
    expect(fx.runtime.sched.liveFibers).toBe(0)
  }, BUDGET_MS)
})
