// SPDX-License-Identifier: MIT
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds (or finds cached) build/lkl.wasm before the kernel suites boot it.
    globalSetup: ['test/support/kernel-image.ts'],
    // The first run on a machine builds fixtures (clang + asyncify) in the tests.
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
})
