// SPDX-License-Identifier: MIT
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The first run on a machine builds fixtures (clang + asyncify) and the kernel.
    testTimeout: 120_000,
    hookTimeout: 1_800_000,
  },
})
