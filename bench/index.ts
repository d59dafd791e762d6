// SPDX-License-Identifier: MIT
/**
 * index.ts - `npm run bench`: every benchmark suite, or the ones named on the
 * command line (e.g. `npm run bench -- runtime`).
 */
import { coldStartBench } from './cold-start.js'
import { diskBench, uklklFigures } from './disk.js'
import { fragmentsBench } from './fragments.js'
import { kernelBench } from './kernel.js'
import { netBench } from './net.js'
import { packageBench } from './package.js'
import { runtimeBench } from './runtime.js'
import { soakBench } from './soak.js'
import { wasiBench } from './wasi.js'

const suites: Record<string, () => Promise<void>> = {
  runtime: runtimeBench,
  kernel: kernelBench,
  cold: coldStartBench,
  package: packageBench,
  soak: soakBench,
  disk: () => diskBench(uklklFigures),
  net: netBench,
  fragments: fragmentsBench,
  wasi: wasiBench,
}

const wanted = process.argv.slice(2)
for (const name of wanted) {
  if (!(name in suites)) throw new Error(`unknown bench suite ${name}; known: ${Object.keys(suites).join(', ')}`)
}
for (const [name, run] of Object.entries(suites)) {
  if (wanted.length === 0 || wanted.includes(name)) await run()
}
