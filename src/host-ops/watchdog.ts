// SPDX-License-Identifier: MIT
/**
 * watchdog.ts - the soft-lockup watchdog: a kernel task that holds the one CPU
 * for longer than a bound ends the runtime with a SoftLockupError that names it
 * and lists the kernel's tasks, instead of keeping every other caller out for good.
 *
 * The kernel knows who holds the CPU and since when; its kernel_soft_lockup
 * export reports a holder past the bound. The host asks from the preemption ops
 * (preempt_tick, watchdog_tick, yield), which every loop of the kernel reaches
 * when its fuel runs out - loops that cannot block included, so a loop that never
 * enables interrupts or yields is caught too - at most once per check interval.
 *
 * Limits: a task is caught only once its loop runs out of fuel (a straight-line
 * stretch of code cannot hold the CPU for long); the runtime does not survive it,
 * like a kernel with softlockup_panic set.
 */
import { type KernelTask, SoftLockupError } from '../errors.js'

/** The most text the kernel's report may take: its holder line and one line per task. */
export const REPORT_BYTES = 32 * 1024

/** The kernel_soft_lockup export: see host-ops.h. */
export type SoftLockupReport = (boundMs: number, buf: number, len: number) => number

export class SoftLockupWatchdog {
  #nextCheck = 0
  #checking = false

  /**
   * report is the kernel's export; read(buf, length) returns what it wrote at buf,
   * a REPORT_BYTES scratch block of the runtime's.
   */
  constructor(
    readonly boundMs: number,
    private readonly report: SoftLockupReport,
    private readonly scratch: number,
    private readonly read: (address: number, length: number) => Uint8Array,
    private readonly now: () => number,
  ) {}

  /**
   * True while the kernel's export runs: its own loops reach the preemption ops,
   * which must then neither check again nor switch fibers (the export was called
   * from inside a host op, not from the trampoline).
   */
  get checking(): boolean {
    return this.#checking
  }

  /** Throw a SoftLockupError if the kernel says a task has held the CPU past the bound. */
  check(): void {
    const now = this.now()
    if (this.#checking || now < this.#nextCheck) return
    // A quarter of the bound, and never less often than 4 times a second: the report is late by at most that.
    this.#nextCheck = now + Math.min(this.boundMs / 4, 250)
    this.#checking = true
    let length: number
    try {
      length = this.report(this.boundMs, this.scratch, REPORT_BYTES)
    } finally {
      this.#checking = false
    }
    if (length <= 0) return
    const [holder = '', ...lines] = new TextDecoder().decode(this.read(this.scratch, length)).split('\n')
    const [pid = '?', heldMs = '0', ...comm] = holder.split(' ')
    const tasks: KernelTask[] = lines.filter((line) => line !== '').map((line) => {
      const [taskPid = '0', state = '?', ...name] = line.split(' ')
      return { pid: Number(taskPid), state, comm: name.join(' ') }
    })
    throw new SoftLockupError(`${comm.join(' ')} (pid ${pid})`, Number(heldMs), this.boundMs, tasks)
  }
}
