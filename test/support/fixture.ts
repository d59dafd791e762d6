// SPDX-License-Identifier: MIT
/**
 * fixture.ts - builds a C fixture from test/fixtures and runs it on the fiber host.
 *
 * loadFixture('name') compiles test/fixtures/name.c with nolibc through the one
 * wasm build path (cached, so only the first run of a changed fixture pays for
 * clang and asyncify) and instantiates it on a fresh scheduler: every fixture gets
 * its own runtime, so a failure in one cannot leak into another.
 */
import { type BuiltModule, type Instrumentation, buildCModule } from '../../scripts/build-wasm.js'
import { type CallOptions, type HostOptions, type HostRuntime, instantiate } from '../../src/host-ops/index.js'
import { UklklError } from '../../src/errors.js'

export interface Fixture {
  readonly runtime: HostRuntime
  readonly module: BuiltModule
  /** Run an export on a new fiber; resolves with its return value. */
  run(exportName: string, ...args: number[]): Promise<number>
  /** Same, with the fiber's name, priority or sizes chosen. */
  runWith(options: CallOptions, exportName: string, ...args: number[]): Promise<number>
  /** All console text so far. */
  console(): string
  [Symbol.asyncDispose](): Promise<void>
}

export interface FixtureOptions extends HostOptions {
  instrument?: Instrumentation
  /** More C files to link, relative to the repo root. */
  extraSources?: readonly string[]
}

export async function loadFixture(name: string, options: FixtureOptions = {}): Promise<Fixture> {
  const { instrument, extraSources = [], ...hostOptions } = options
  const module = await buildCModule({
    name: `fixture-${name}`,
    sources: [`test/fixtures/${name}.c`, ...extraSources],
    exports: [],
    ...(instrument === undefined ? {} : { instrument }),
  })
  const runtime = await instantiate(await WebAssembly.compile(module.bytes), hostOptions)
  const runWith = async (callOptions: CallOptions, exportName: string, ...args: number[]): Promise<number> =>
    Number(await runtime.call(exportName, args, callOptions))
  return {
    runtime,
    module,
    run: (exportName, ...args) => runWith({}, exportName, ...args),
    runWith,
    console: () => runtime.console.text(),
    async [Symbol.asyncDispose]() {
      runtime.sched.close(new UklklError(`fixture ${name} was disposed`))
    },
  }
}
