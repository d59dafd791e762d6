// SPDX-License-Identifier: MIT
/**
 * fixture.ts - builds a C fixture from test/fixtures and runs it on the fiber host.
 *
 * loadFixture('name') compiles test/fixtures/name.c with nolibc through the one
 * wasm build path (cached, so only the first run of a changed fixture pays for
 * clang and asyncify) and instantiates it on a fresh scheduler: every fixture gets
 * its own runtime, so a failure in one cannot leak into another.
 *
 * prepareFixture() does the build alone, for a beforeAll: tests that state a tight
 * budget then spend it on the behaviour they check, not on clang. The compiled
 * module is kept for the rest of the test file.
 *
 * Fixtures run on the fiber backend the runtime chooses for the kernel (JSPI
 * where Node has it, else asyncify), or on UKLKL_FIBERS's: a fixture for JSPI is
 * built without asyncify.
 */
import { type BuiltModule, type Instrumentation, buildCModule } from '../../scripts/build-wasm.js'
import { type CallOptions, type HostOptions, type HostRuntime, instantiate } from '../../src/host-ops/index.js'
import { UklklError } from '../../src/errors.js'
import type { FiberBackend } from '../../src/host-ops/runtime.js'
import { hasJspi } from '../../src/sched/jspi.js'

/** The fiber backend the suites run on: UKLKL_FIBERS, else JSPI where this Node has it. */
export const FIBERS: FiberBackend = fibersFromEnvironment()

function fibersFromEnvironment(): FiberBackend {
  const chosen = process.env.UKLKL_FIBERS
  if (chosen === 'asyncify' || chosen === 'jspi') return chosen
  if (chosen !== undefined && chosen !== '') throw new Error(`UKLKL_FIBERS must be asyncify or jspi, not ${chosen}`)
  return hasJspi() ? 'jspi' : 'asyncify'
}

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

export interface FixtureBuild {
  instrument?: Instrumentation
  /** More C files to link, relative to the repo root. */
  extraSources?: readonly string[]
}

export type FixtureOptions = FixtureBuild & HostOptions

interface CompiledFixture {
  readonly module: BuiltModule
  readonly compiled: WebAssembly.Module
}

const compiledFixtures = new Map<string, Promise<CompiledFixture>>()

function compileFixture(name: string, { instrument: given, extraSources = [] }: FixtureBuild): Promise<CompiledFixture> {
  // Asyncify is the backend's to choose; what else a test asks of the instrumentation stands.
  const instrument: Instrumentation = { preempt: true, ...given, asyncify: FIBERS === 'asyncify' }
  const key = JSON.stringify([name, instrument, extraSources])
  let compiled = compiledFixtures.get(key)
  if (compiled === undefined) {
    compiled = (async () => {
      const module = await buildCModule({
        name: `fixture-${name}`,
        sources: [`test/fixtures/${name}.c`, ...extraSources],
        exports: [],
        instrument,
      })
      return { module, compiled: await WebAssembly.compile(module.bytes) }
    })()
    // A failed build is not kept: the next caller sees the error afresh.
    compiled.catch(() => compiledFixtures.delete(key))
    compiledFixtures.set(key, compiled)
  }
  return compiled
}

/** Build and compile a fixture now, so that later loadFixture calls only instantiate it. */
export async function prepareFixture(name: string, build: FixtureBuild = {}): Promise<void> {
  await compileFixture(name, build)
}

export async function loadFixture(name: string, options: FixtureOptions = {}): Promise<Fixture> {
  const { instrument, extraSources, ...hostOptions } = options
  const { module, compiled } = await compileFixture(name, {
    ...(instrument === undefined ? {} : { instrument }),
    ...(extraSources === undefined ? {} : { extraSources }),
  })
  const runtime = await instantiate(compiled, hostOptions)
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
