// SPDX-License-Identifier: MIT
/**
 * vitest.config.ts - two projects:
 *   runtime  the fiber runtime on C fixtures, and anything else under test/ that is
 *            not a kernel or package suite: it never builds or loads the kernel;
 *   kernel   test/kernel and test/package: their global setup builds build/lkl.wasm
 *            first (or finds it cached).
 * `npm test` runs runtime with the kernel build off (UKLKL_KERNEL_BUILD=0), then
 * builds the kernel and dist/, type-checks, and runs kernel.
 * UKLKL_TEST_REPORT_DIR=dir adds a JSON report per vitest run in dir (.ci/run adds
 * up all of them).
 */
import path from 'node:path'
import { configDefaults, defineConfig } from 'vitest/config'

const kernelSuites = ['test/kernel/**/*.test.ts', 'test/package/**/*.test.ts']
const reportDir = process.env.UKLKL_TEST_REPORT_DIR

export default defineConfig({
  test: {
    // The first run on a machine builds fixtures (clang + asyncify) in the tests.
    testTimeout: 120_000,
    hookTimeout: 600_000,
    ...(reportDir === undefined ? {} : {
      reporters: ['default', 'json'],
      // One file per run: npm test runs vitest once per project.
      outputFile: { json: path.join(reportDir, `vitest-${process.pid}.json`) },
    }),
    projects: [
      {
        extends: true,
        test: { name: 'runtime', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...kernelSuites] },
      },
      {
        extends: true,
        // Builds (or finds cached) build/lkl.wasm before the kernel suites boot it.
        test: { name: 'kernel', include: kernelSuites, globalSetup: ['test/support/kernel-image.ts'] },
      },
    ],
  },
})
