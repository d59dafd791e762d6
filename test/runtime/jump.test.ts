// SPDX-License-Identifier: MIT
// Jump points: LKL's jmp_buf_set/longjmp and C setjmp/longjmp across blocking calls.
import { describe, expect, it } from 'vitest'
import { loadFixture } from '../support/fixture.js'

describe('jump points', () => {
  it('jmp_buf_set calls f; a longjmp after f blocked returns from jmp_buf_set', async () => {
    await using fx = await loadFixture('jump')
    expect(await fx.run('jmp_buf_set_longjmp'), fx.console()).toBe(0)
  })

  it('C setjmp/longjmp from 20 frames down, after blocking, three times over', async () => {
    await using fx = await loadFixture('jump')
    expect(await fx.run('c_setjmp_longjmp', 20), fx.console()).toBe(0)
    expect(fx.runtime.sched.liveFibers).toBe(0)
  })
})
