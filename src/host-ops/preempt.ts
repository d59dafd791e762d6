// SPDX-License-Identifier: MIT
/**
 * preempt.ts - the preemption family: the fuel check's tick and cooperative yield.
 */
import type { HostContext } from './context.js'

export interface PreemptOps {
  preempt_tick(): void
  yield(): void
}

export function preemptOps(ctx: HostContext): PreemptOps {
  return {
    preempt_tick() {
      ctx.sched.suspendable((fiber) => ctx.sched.preemptTick(fiber))
    },
    yield() {
      ctx.sched.suspendable((fiber) => ctx.sched.yield(fiber))
    },
  }
}
