// SPDX-License-Identifier: MIT
/**
 * progress.ts - one status line on a terminal for a long copy: bytes and files
 * done of the totals, a bar, the rate. It is drawn over itself with a carriage
 * return and erase-to-end-of-line, at most every 100 ms, only once the copy has
 * run half a second (short copies print nothing), and erased before any message
 * and at the end, so what remains on the terminal is what cp would leave.
 *
 * Why not a package (cli-progress): one line with two counters needs two
 * terminal sequences; a package would add its own timers, cursor handling and
 * options to a runtime dependency for that. The caller decides whether there is
 * a terminal (stderr.isTTY); on anything else there is no Progress at all.
 *
 * Limits: the line is cut to the terminal's width as it was at the start.
 */
import type { StatusLine, TextSink } from './messages.js'

export interface ProgressTotals {
  files: number
  bytes: number
}

const DELAY_MS = 500
const INTERVAL_MS = 100
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

function size(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit] ?? ''}`
}

export class Progress implements StatusLine {
  bytes = 0
  files = 0
  readonly #out: TextSink
  readonly #totals: ProgressTotals
  readonly #width: number
  readonly #now: () => number
  readonly #start: number
  #drawn = 0
  #shown = false

  /** columns: the terminal's width; now: a clock in ms (performance.now unless a test gives one). */
  constructor(out: TextSink, totals: ProgressTotals, columns: number, now: () => number = () => performance.now()) {
    this.#out = out
    this.#totals = totals
    this.#width = Math.max(20, columns - 1)
    this.#now = now
    this.#start = now()
  }

  addBytes(count: number): void {
    this.bytes += count
    this.#tick()
  }

  fileDone(): void {
    this.files++
    this.#tick()
  }

  /** Erase the line (a message is about to be printed, or the copy is over). */
  clear(): void {
    if (!this.#shown) return
    this.#out.write('\r\x1b[K')
    this.#shown = false
  }

  #tick(): void {
    const now = this.#now()
    if (now - this.#start < DELAY_MS || now - this.#drawn < INTERVAL_MS) return
    this.#drawn = now
    this.#out.write(`\r${this.line(now)}\x1b[K`)
    this.#shown = true
  }

  /** The status line at time now, at most the terminal's width. */
  line(now: number): string {
    const { bytes, files } = this.#totals
    const done = bytes > 0 ? Math.min(1, this.bytes / bytes) : files > 0 ? Math.min(1, this.files / files) : 1
    const seconds = Math.max((now - this.#start) / 1000, 1e-3)
    const text = ` ${Math.floor(done * 100)}%  ${size(this.bytes)} / ${size(bytes)}  ${this.files}/${files} files  ${size(this.bytes / seconds)}/s`
    const barWidth = Math.min(40, this.#width - text.length - 2)
    if (barWidth < 5) return text.slice(0, this.#width)
    const filled = Math.round(done * barWidth)
    return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${text}`
  }
}
