// SPDX-License-Identifier: MIT
/*
 * Preemption: loops that never call the host still let other fibers and Node run,
 * and the policy (src/sched/policy.ts) decides who runs next, rule by rule. The
 * instrumentation can also call a preemption point of the module's own (the
 * kernel's wasm_preempt_point) instead of the host's tick.
 *
 * The spinners give up after SPIN_BUDGET_MS of host time and say whether they saw
 * what they waited for, so a broken rule fails a check instead of hanging. Each
 * test's budget covers instantiating the prebuilt fixture and that bounded spin.
 */
import binaryen from 'binaryen'
import { beforeAll, describe, expect, it } from 'vitest'
import { instrumentPreemption } from '../../scripts/preempt-pass.js'
import { PRIORITY_DEFAULT, PRIORITY_LOWEST } from '../../src/sched/fiber.js'
import { type Fixture, loadFixture, prepareFixture } from '../support/fixture.js'

/** How long a spinner waits for its flag: hundreds of ticks, so only a missed preemption exhausts it. */
const SPIN_BUDGET_MS = 3_000
/** A test: instantiate the fixture, and at worst one spinner's whole budget twice over. */
const TEST_BUDGET_MS = 3 * SPIN_BUDGET_MS
/** Longer than any test here: the host slice never ends during one, so it cannot preempt for the quantum. */
const ENDLESS_SLICE_MS = 3_600_000
/** More ticks than a test can run: the quantum never expires, so only the slice can preempt. */
const ENDLESS_QUANTUM = 1_000_000

/** Set the fixture's flag from JS, as if another CPU had written it. */
function setFlagFromJs(fx: Fixture, address: number): void {
  const memory = fx.runtime.instance.exports.memory as WebAssembly.Memory
  new Int32Array(memory.buffer, address, 1)[0] = 1
}

describe('preemption', () => {
  beforeAll(() => prepareFixture('preempt'))

  it('a fiber spinning on a flag set by another fiber of the same priority sees it', async () => {
    await using fx = await loadFixture('preempt')
    const spinner = fx.run('spin_until_flag', SPIN_BUDGET_MS)
    const setter = fx.run('set_flag')
    expect(await setter).toBe(0)
    expect(await spinner, 'the spinner never saw the flag: the setter did not run while it spun').toBe(1)
  }, TEST_BUDGET_MS)

  it('a higher-priority spinner that used up its quantum is demoted below a lower-priority setter', async () => {
    await using fx = await loadFixture('preempt')
    const spinner = fx.runWith({ priority: PRIORITY_DEFAULT + 8 }, 'spin_until_flag', SPIN_BUDGET_MS)
    const setter = fx.runWith({ priority: PRIORITY_DEFAULT - 8 }, 'set_flag')
    expect(await setter).toBe(0)
    expect(await spinner, 'the lower-priority setter never ran while the spinner spun').toBe(1)
  }, TEST_BUDGET_MS)

  it('the quantum alone makes a spinner give way: an endless host slice, same priority', async () => {
    // Both at the lowest priority: demotion changes nothing, so only the quantum
    // and the requeue at the tail can let the setter in.
    await using fx = await loadFixture('preempt', { scheduler: { hostSliceMs: ENDLESS_SLICE_MS } })
    const spinner = fx.runWith({ priority: PRIORITY_LOWEST }, 'spin_until_flag', SPIN_BUDGET_MS)
    const setter = fx.runWith({ priority: PRIORITY_LOWEST }, 'set_flag')
    expect(await spinner, 'the spinner kept the CPU after its quantum expired').toBe(1)
    expect(await setter).toBe(0)
  }, TEST_BUDGET_MS)

  it('a fiber preempted with quantum left resumes before the fiber waiting behind it', async () => {
    // The slice ends at every tick while the quantum never does: the spinner is
    // preempted with quantum left again and again. JS sets its flag at the first
    // turn the event loop gets; the spinner must finish before the waiter starts.
    await using fx = await loadFixture('preempt', {
      scheduler: { hostSliceMs: 1, tickMs: 1, quantumTicks: ENDLESS_QUANTUM },
    })
    const flag = await fx.run('flag_address')
    const spinner = fx.run('spin_until_flag', SPIN_BUDGET_MS)
    const waiter = fx.run('spinner_finished')
    setImmediate(() => setFlagFromJs(fx, flag))
    expect(await spinner, 'the event loop never got a turn to set the flag while the spinner spun').toBe(1)
    expect(await waiter, 'the waiting fiber ran before the preempted spinner resumed: it went to the tail').toBe(1)
  }, TEST_BUDGET_MS)

  it('a fiber that yields goes behind every fiber of its priority', async () => {
    await using fx = await loadFixture('preempt')
    const yielder = fx.run('yield_once')
    const other = fx.run('note_other_ran')
    expect(await yielder, 'the yielding fiber resumed before the other fiber of its priority ran').toBe(1)
    expect(await other).toBe(1)
  }, TEST_BUDGET_MS)

  it('the event loop gets its turn during a spin: a setTimeout(0) sets the flag the spinner waits on', async () => {
    await using fx = await loadFixture('preempt')
    const flag = await fx.run('flag_address')
    const spinner = fx.run('spin_until_flag', SPIN_BUDGET_MS)
    setTimeout(() => setFlagFromJs(fx, flag), 0)
    expect(await spinner, 'the timer never fired while the fiber spun: the scheduler kept the JS thread').toBe(1)
  }, TEST_BUDGET_MS)
})

describe('a preemption point of the module\'s own', () => {
  // spin(n) loops n times; point, which counts its calls, has a loop of its own.
  const MODULE = `(module
    (global $calls (export "calls") (mut i32) (i32.const 0))
    (func $point (local $i i32)
      (loop $again
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const 3))))
      (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
    (func $spin (export "spin") (param $n i32)
      (loop $again
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $again (local.get $n)))))`

  it('is what the fuel check calls, instead of an import, and its own loop has no check', async () => {
    const module = binaryen.parseText(MODULE)
    try {
      expect(instrumentPreemption(module, new Set(), 'point')).toEqual({ functions: 1, loops: 1 })
      const instance = await WebAssembly.instantiate(new WebAssembly.Module(new Uint8Array(module.emitBinary())), {})
      const exports = instance.exports as { spin(n: number): void, calls: WebAssembly.Global, uklkl_fuel: WebAssembly.Global }
      // The fuel starts at 0 and nothing refills it: every iteration finds it spent.
      exports.spin(5)
      expect(exports.calls.value, 'calls of the point').toBe(5)
      expect(exports.uklkl_fuel.value, 'fuel spent by spin alone: the point\'s loop is not checked').toBe(-5)
    } finally {
      module.dispose()
    }
  })

  it('must exist', () => {
    const module = binaryen.parseText(MODULE)
    try {
      expect(() => instrumentPreemption(module, new Set(), 'no_such_point')).toThrow(/no_such_point is not in the module/)
    } finally {
      module.dispose()
    }
  })
})
