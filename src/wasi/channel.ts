// SPDX-License-Identifier: MIT
/**
 * channel.ts - the synchronous call from a WASI program's worker thread to the
 * kernel's thread, over one SharedArrayBuffer per program.
 *
 * Layout of the buffer:
 *   control  Int32Array[4] at 0: state, op, errno, data length
 *   args     BigInt64Array[8] at 16: the request's integers, then the answer's
 *   data     DATA_SIZE bytes at 80: the request's bytes (paths, bytes to write),
 *            then the answer's (bytes read, structs for the program's memory)
 *
 * The worker writes a request, sets state REQUEST, notifies, and sleeps in
 * Atomics.wait until the state leaves REQUEST. The kernel's thread serves the
 * call with kernel syscalls, writes the answer and sets state ANSWER. One call
 * is in flight at a time: a WASI program is single-threaded.
 *
 * Waking a sleeping thread is what costs: on a virtual machine a futex wake
 * (Atomics.notify to an Atomics.wait) took 14 µs each way, and the kernel's
 * thread, which must not block (it runs the kernel and the event loop), waits
 * with Atomics.waitAsync, whose wake-up also goes through the event loop. A
 * program's next call usually follows its answer within microseconds, so both
 * ends first poll the state for a while before they sleep: the worker for
 * CLIENT_SPIN_MS after its request, the kernel's thread for LINGER_MS (or the
 * server's lingerMs) after each answer. Serving without yielding is bounded:
 * every SLICE_MS, polls included, the kernel's thread lets the event loop run
 * (timers, I/O). A sleep is always on the state last seen, so a notify between
 * the load and the wait is never lost (the wait then returns at once).
 *
 * Limits: a call carries at most DATA_SIZE bytes each way; the worker side splits
 * bigger writes and reads into several calls (wasi.ts says where). Polling uses
 * a core: while several programs run at once, each polls only briefly.
 */

/** Bytes each way per call: 64 KiB, the size of a pipe's buffer and a good disk transfer. */
export const DATA_SIZE = 64 * 1024

const CONTROL_BYTES = 16
const ARG_SLOTS = 8
const DATA_OFFSET = CONTROL_BYTES + ARG_SLOTS * 8
export const CHANNEL_BYTES = DATA_OFFSET + DATA_SIZE

const STATE = 0
const OP = 1
const ERRNO = 2
const LENGTH = 3

const IDLE = 0
const REQUEST = 1
const ANSWER = 2

/** The calls that cross to the kernel; WASI functions the worker answers alone (args, environ, proc_exit) have none. */
export const Op = {
  fd_advise: 1, fd_allocate: 2, fd_close: 3, fd_datasync: 4, fd_fdstat_get: 5, fd_fdstat_set_flags: 6,
  fd_filestat_get: 7, fd_filestat_set_size: 8, fd_filestat_set_times: 9, fd_pread: 10, fd_prestat_get: 11,
  fd_prestat_dir_name: 12, fd_pwrite: 13, fd_read: 14, fd_readdir: 15, fd_renumber: 16, fd_seek: 17, fd_sync: 18,
  fd_write: 19, path_create_directory: 20, path_filestat_get: 21, path_filestat_set_times: 22, path_link: 23,
  path_open: 24, path_readlink: 25, path_remove_directory: 26, path_rename: 27, path_symlink: 28,
  path_unlink_file: 29, poll_oneoff: 30, sched_yield: 31, random_get: 32, clock_time_get: 33, clock_res_get: 34,
  sock_accept: 35, sock_recv: 36, sock_send: 37, sock_shutdown: 38,
} as const
export type OpName = keyof typeof Op

/** A call as the kernel's side sees it: integers, bytes in; the same out. */
export interface Call {
  readonly op: number
  readonly args: BigInt64Array
  /** The request's bytes (a view into the shared block: valid until the answer). */
  readonly data: Uint8Array
  /** Where the answer's bytes go (the whole data area). */
  readonly out: Uint8Array
}

/** The worker's end: blocking calls. */
export class ChannelClient {
  readonly #control: Int32Array
  readonly args: BigInt64Array
  /** The data area: write the request's bytes here, read the answer's from here. */
  readonly data: Uint8Array

  constructor(buffer: SharedArrayBuffer) {
    this.#control = new Int32Array(buffer, 0, CONTROL_BYTES / 4)
    this.args = new BigInt64Array(buffer, CONTROL_BYTES, ARG_SLOTS)
    this.data = new Uint8Array(buffer, DATA_OFFSET, DATA_SIZE)
  }

  /**
   * Send op with args (and length bytes already in data); sleeps until the
   * kernel answers. Returns the WASI errno; the answer's integers are in args
   * and its byte count is answerLength.
   */
  call(op: number, length = 0): number {
    Atomics.store(this.#control, OP, op)
    Atomics.store(this.#control, LENGTH, length)
    Atomics.store(this.#control, STATE, REQUEST)
    Atomics.notify(this.#control, STATE)
    if (!pollWhile(this.#control, REQUEST, CLIENT_SPIN_MS)) {
      // wait returns at once if the answer came first; a spurious wake re-checks the state.
      while (Atomics.load(this.#control, STATE) === REQUEST) Atomics.wait(this.#control, STATE, REQUEST)
    }
    Atomics.store(this.#control, STATE, IDLE)
    return Atomics.load(this.#control, ERRNO)
  }

  get answerLength(): number {
    return Atomics.load(this.#control, LENGTH)
  }
}

/** Poll until the state is no longer state, for at most ms; whether it changed. */
function pollWhile(control: Int32Array, state: number, ms: number): boolean {
  const until = performance.now() + ms
  for (;;) {
    // The clock costs more than a load: read it once per 64 polls.
    for (let i = 0; i < 64; i++) if (Atomics.load(control, STATE) !== state) return true
    if (performance.now() > until) return false
  }
}

/* Atomics.waitAsync (Node 16+) is ES2024; the project's lib is ES2022. */
type WaitAsyncResult = { async: false, value: 'not-equal' | 'timed-out' } | { async: true, value: Promise<'ok' | 'timed-out'> }
const waitAsync = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number): WaitAsyncResult }).waitAsync

/** How long the kernel's thread polls for the next request after an answer, by default. */
const LINGER_MS = 0.05
/** How long the worker polls for the answer before it sleeps. */
const CLIENT_SPIN_MS = 0.2
/** How long the kernel's thread serves calls without letting the event loop run. */
const SLICE_MS = 10

/** What serves a call: resolves with the WASI errno and the answer's byte count. */
export type Handler = (call: Call) => Promise<{ errno: number, length: number }>

/**
 * The kernel's end: serve calls until stop() (or until handler throws, which
 * ends serving and rejects done). Never blocks the thread.
 */
export class ChannelServer {
  readonly #control: Int32Array
  readonly #args: BigInt64Array
  readonly #data: Uint8Array
  #stopped = false
  readonly #lingerMs: number
  readonly done: Promise<void>

  constructor(buffer: SharedArrayBuffer, handler: Handler, options: { lingerMs?: number } = {}) {
    this.#control = new Int32Array(buffer, 0, CONTROL_BYTES / 4)
    this.#args = new BigInt64Array(buffer, CONTROL_BYTES, ARG_SLOTS)
    this.#data = new Uint8Array(buffer, DATA_OFFSET, DATA_SIZE)
    this.#lingerMs = options.lingerMs ?? LINGER_MS
    this.done = this.#serve(handler)
  }

  stop(): void {
    this.#stopped = true
    // Wake our own waitAsync so that the loop sees the flag; the worker ignores the state it sees unchanged.
    Atomics.notify(this.#control, STATE)
  }

  async #serve(handler: Handler): Promise<void> {
    let sliceStart = performance.now()
    let lingered = false
    while (!this.#stopped) {
      if (performance.now() - sliceStart >= SLICE_MS) {
        // A whole slice of calls (and polls) without a wait: let timers and I/O run.
        await new Promise((resolve) => setImmediate(resolve))
        sliceStart = performance.now()
      }
      const state = Atomics.load(this.#control, STATE)
      if (state !== REQUEST) {
        if (!lingered) {
          lingered = true
          // Within the slice: the poll, too, keeps the event loop out.
          pollWhile(this.#control, state, Math.min(this.#lingerMs, sliceStart + SLICE_MS - performance.now()))
          continue
        }
        const wait = waitAsync(this.#control, STATE, state)
        if (wait.async) {
          await wait.value
          sliceStart = performance.now()
        }
        continue
      }
      lingered = false
      const length = Atomics.load(this.#control, LENGTH)
      const call: Call = {
        op: Atomics.load(this.#control, OP), args: this.#args, data: this.#data.subarray(0, length), out: this.#data,
      }
      const answer = await handler(call)
      Atomics.store(this.#control, ERRNO, answer.errno)
      Atomics.store(this.#control, LENGTH, answer.length)
      Atomics.store(this.#control, STATE, ANSWER)
      Atomics.notify(this.#control, STATE)
    }
  }
}
