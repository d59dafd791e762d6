// SPDX-License-Identifier: MIT
/**
 * timer-list.ts - one-shot timers sorted by deadline.
 *
 * Deadlines are in the scheduler's clock (milliseconds). Entries with equal
 * deadlines fire in the order they were armed. A cancelled entry is removed at
 * once, so a freed or re-armed timer can never fire stale.
 */

export interface TimerEntry {
  deadline: number
  readonly fire: () => void
}

export class TimerList {
  readonly #entries: TimerEntry[] = []

  get size(): number {
    return this.#entries.length
  }

  insert(entry: TimerEntry): void {
    const list = this.#entries
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (list[mid]!.deadline <= entry.deadline) lo = mid + 1
      else hi = mid
    }
    list.splice(lo, 0, entry)
  }

  /** Remove entry if armed; returns whether it was. */
  cancel(entry: TimerEntry): boolean {
    const index = this.#entries.indexOf(entry)
    if (index < 0) return false
    this.#entries.splice(index, 1)
    return true
  }

  nextDeadline(): number | undefined {
    return this.#entries[0]?.deadline
  }

  /** Remove and return the entries due at now, earliest first. */
  takeDue(now: number): TimerEntry[] {
    let count = 0
    while (count < this.#entries.length && this.#entries[count]!.deadline <= now) count++
    return this.#entries.splice(0, count)
  }
}
