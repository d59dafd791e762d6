// SPDX-License-Identifier: MIT
/**
 * preempt.ts - the preemption family: the fuel check's tick, cooperative yield,
 * and the watchdog's tick for loops that must not suspend.
 *
 * The ticks and yield consult the soft-lockup watchdog (watchdog.ts) when the
 * instance has one; watchdog_tick never switches threads.
 */
import { type Suspended, noValue } from '../sched/scheduler.js'
import type { HostContext } from './context.js'
import type { SoftLockupWatchdog } from './watchdog.js'

export interface PreemptOps {
  preempt_tick(): Suspended<unknown>
  yield(): Suspended<unknown>
  watchdog_tick(): void
}

/** Loop iterations between two watchdog_tick calls: the host's cost is one call per refill. */
export const WATCHDOG_FUEL = 1_000_000

/** What the family reads once the instance exists: its watchdog and the watchdog's fuel counter. */
export interface PreemptBinding {
  watchdog(): SoftLockupWatchdog | null
  watchdogFuel(): WebAssembly.Global | null
}

const UNBOUND: PreemptBinding = { watchdog: () => null, watchdogFuel: () => null }

export function preemptOps(ctx: HostContext, binding: PreemptBinding = UNBOUND): PreemptOps {
  return {
    preempt_tick() {
      const watchdog = binding.watchdog()
      // Reached from the watchdog's own call into the kernel: no check, and no switch.
      if (watchdog?.checking === true) return undefined
      return noValue(ctx.sched.suspendable((fiber) => {
        watchdog?.check()
        return ctx.sched.preemptTick(fiber)
      }))
    },
    yield() {
      const watchdog = binding.watchdog()
      if (watchdog?.checking === true) return undefined
      return noValue(ctx.sched.suspendable((fiber) => {
        // A cpu_relax() loop yields at every turn and may take long to run out of fuel.
        watchdog?.check()
        return ctx.sched.yield(fiber)
      }))
    },
    watchdog_tick() {
      const fuel = binding.watchdogFuel()
      if (fuel !== null) fuel.value = WATCHDOG_FUEL
      binding.watchdog()?.check()
    },
  }
}
