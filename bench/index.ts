// SPDX-License-Identifier: MIT
/**
 * index.ts - `npm run bench`: every benchmark suite, or the ones named on the
 * command line (e.g. `npm run bench -- runtime`).
 *
 * A suite's module is loaded only when the suite runs: loading all of them (the
 * WASI peers, ext2fs, the test fixtures) into the process slowed the kernel
 * suite's getpid from ~0.9 to ~1.6 µs.
 */
const suites: Record<string, () => Promise<void>> = {
  runtime: async () => (await import('./runtime.js')).runtimeBench(),
  kernel: async () => (await import('./kernel.js')).kernelBench(),
  cold: async () => (await import('./cold-start.js')).coldStartBench(),
  package: async () => (await import('./package.js')).packageBench(),
  soak: async () => (await import('./soak.js')).soakBench(),
  disk: async () => {
    const { diskBench, uklklFigures } = await import('./disk.js')
    await diskBench(uklklFigures)
  },
  net: async () => (await import('./net.js')).netBench(),
  fragments: async () => (await import('./fragments.js')).fragmentsBench(),
  fibers: async () => (await import('./fibers.js')).fibersBench(),
  wasi: async () => (await import('./wasi.js')).wasiBench(),
}

const wanted = process.argv.slice(2)
for (const name of wanted) {
  if (!(name in suites)) throw new Error(`unknown bench suite ${name}; known: ${Object.keys(suites).join(', ')}`)
}
for (const [name, run] of Object.entries(suites)) {
  if (wanted.length === 0 || wanted.includes(name)) await run()
}
