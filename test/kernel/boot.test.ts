// SPDX-License-Identifier: MIT
// LKL's boot test cases as a vitest suite: the list `uklkl boot` runs, one kernel for the file.
import { describe, expect, it } from 'vitest'
import { BOOT_CASES, type BootContext } from '../../src/cli/boot.js'

describe('LKL boot test parity', () => {
  const ctx: BootContext = { kernel: null }
  for (const [name, run] of BOOT_CASES) {
    it(name, async () => {
      const result = await run(ctx)
      expect(result.ok, result.log).toBe(true)
    })
  }
})
