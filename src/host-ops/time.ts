// SPDX-License-Identifier: MIT
/**
 * time.ts - the time family: a monotonic clock and one-shot timers.
 *
 * A timer that fires runs its callback in a new fiber at the highest priority (the
 * kernel's timer IRQ handler may block on the CPU lock). Re-arming replaces the
 * earlier deadline and freeing disarms, both at once: a stale deadline never fires.
 */
import type { TimerEntry } from '../sched/timer-list.js'
import { type HostContext, type Ptr, hex } from './context.js'
import type { Handles } from './handles.js'

export interface TimeOps {
  time(): bigint
  timer_alloc(fn: number, arg: number): Ptr<'host_timer'>
  timer_set_oneshot(timer: Ptr<'host_timer'>, deltaNs: bigint): number
  timer_free(timer: Ptr<'host_timer'>): void
}

export interface HostTimer {
  readonly fn: number
  readonly arg: number
  armed: TimerEntry | null
}

/** A timer as plain data, for a boot snapshot: deadline in the scheduler's clock, null when disarmed. */
export interface TimerRecord {
  readonly fn: number
  readonly arg: number
  readonly deadline: number | null
}

/** Arm t (timer handle) for deadline, replacing its earlier deadline: at it, its callback runs in a new fiber. */
function arm(ctx: HostContext, handle: number, t: HostTimer, deadline: number): void {
  if (t.armed !== null) ctx.sched.cancelTimer(t.armed)
  const entry: TimerEntry = {
    deadline,
    fire: () => {
      t.armed = null
      if (ctx.sched.spawnCallback(`timer ${hex(handle)}`, t.fn, t.arg) === null) {
        ctx.sched.fail(new Error(`no memory for a fiber to run timer ${hex(handle)}`))
      }
    },
  }
  t.armed = entry
  ctx.sched.addTimer(entry)
}

export function saveTimer(t: HostTimer): TimerRecord {
  return { fn: t.fn, arg: t.arg, deadline: t.armed?.deadline ?? null }
}

/** The timer of record, armed again for its deadline (the loaded scheduler's clock goes on from the saved one). */
export function loadTimer(ctx: HostContext, handle: number, record: TimerRecord): HostTimer {
  const t: HostTimer = { fn: record.fn, arg: record.arg, armed: null }
  if (record.deadline !== null) arm(ctx, handle, t, record.deadline)
  return t
}

export function timeOps(ctx: HostContext, handles: Handles): TimeOps {
  const timer = (handle: number, op: string): HostTimer => handles.get<HostTimer>('timer', handle, op)
  return {
    time() {
      return BigInt(Math.round(ctx.sched.now() * 1e6))
    },
    timer_alloc(fn, arg) {
      return handles.add('timer', { fn, arg, armed: null }) as Ptr<'host_timer'>
    },
    timer_set_oneshot(handle, deltaNs) {
      arm(ctx, handle, timer(handle, 'timer_set_oneshot'), ctx.sched.now() + Number(deltaNs) / 1e6)
      return 0
    },
    timer_free(handle) {
      const t = handles.remove<HostTimer>('timer', handle, 'timer_free')
      if (t.armed !== null) ctx.sched.cancelTimer(t.armed)
    },
  }
}
