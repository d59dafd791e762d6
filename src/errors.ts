// SPDX-License-Identifier: MIT
/**
 * errors.ts - every failure uklkl reports, one class per kind.
 *
 * Each error says what failed and where (the op, the fiber) so that a kernel bug or
 * a misuse shows up as a readable JS error instead of a crash or a hang. Errors that
 * end a runtime (a trap, a panic, a deadlock) make every later call fail with
 * RuntimeFailedError, which carries the original as its cause.
 */

/** The base of all uklkl errors. */
export class UklklError extends Error {
  override name = 'UklklError'
}

/** What a blocked fiber is waiting for, as listed in a DeadlockError. */
export interface BlockedFiber {
  fiber: string
  waitsOn: string
}

/** Nothing can run, no timer is armed, nothing external is pending, yet calls wait. */
export class DeadlockError extends UklklError {
  override name = 'DeadlockError'
  constructor(readonly blocked: readonly BlockedFiber[]) {
    super(`deadlock: nothing can run and no timer or event is pending; blocked: ${
      blocked.map((b) => `${b.fiber} on ${b.waitsOn}`).join(', ') || 'none'}`)
  }
}

/** A fiber's asyncify buffer was too small to save its stack when it blocked. */
export class AsyncifyOverflowError extends UklklError {
  override name = 'AsyncifyOverflowError'
  constructor(readonly fiber: string, readonly bufferSize: number) {
    super(`fiber ${fiber} overflowed its ${bufferSize}-byte asyncify buffer while suspending; give it a larger buffer`)
  }
}

/** A fiber wrote below the bottom of its C stack. */
export class StackOverflowError extends UklklError {
  override name = 'StackOverflowError'
  constructor(readonly fiber: string, readonly stackSize: number) {
    super(`fiber ${fiber} overflowed its ${stackSize}-byte C stack`)
  }
}

/** C code called a host op in a way its contract forbids (see host-ops.h). */
export class HostOpMisuseError extends UklklError {
  override name = 'HostOpMisuseError'
  constructor(readonly op: string, readonly fiber: string, detail: string) {
    super(`${op} by fiber ${fiber}: ${detail}`)
  }
}

/** WebAssembly trapped (unreachable, out-of-bounds access, bad indirect call) inside a fiber. */
export class FiberTrapError extends UklklError {
  override name = 'FiberTrapError'
  constructor(readonly fiber: string, cause: unknown) {
    super(`fiber ${fiber} trapped: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}

/** The C side called host_panic (a kernel panic, abort(), exit(non-zero)). */
export class PanicError extends UklklError {
  override name = 'PanicError'
  constructor(readonly fiber: string, readonly consoleTail: string) {
    super(`panic in fiber ${fiber}; console tail:\n${consoleTail}`)
  }
}

/**
 * A virtio device found the kernel's side of it broken: a descriptor outside
 * guest memory, a looping chain, a ring index beyond the queue, a register
 * written out of order. The kernel's state is not to be trusted after that, so
 * the runtime stops with this error instead of trapping.
 */
export class VirtioError extends UklklError {
  override name = 'VirtioError'
  constructor(readonly device: string, detail: string) {
    super(`virtio device ${device}: ${detail}`)
  }
}

/** A disk image another kernel (in this process or another) is writing. */
export class ImageLockedError extends UklklError {
  override name = 'ImageLockedError'
  readonly code = 'EBUSY'
  constructor(readonly path: string, readonly pid: number) {
    super(`EBUSY: the image ${path} is being written by ${pid === process.pid ? 'another kernel of this process' : `process ${pid || 'unknown'}`}`)
  }
}

/**
 * The scheduler found its own bookkeeping broken: a fiber in a state the step
 * forbids, a suspension nobody unwound, a jump point that is not there. A bug in
 * uklkl or in a host op, never in the C program; fiber is null when none was running.
 */
export class SchedulerInvariantError extends UklklError {
  override name = 'SchedulerInvariantError'
  constructor(readonly fiber: string | null, readonly invariant: string) {
    super(`scheduler invariant broken${fiber === null ? '' : ` by fiber ${fiber}`}: ${invariant}`)
  }
}

/** The runtime stopped earlier (see cause); nothing more can run on it. */
export class RuntimeFailedError extends UklklError {
  override name = 'RuntimeFailedError'
  constructor(cause: Error) {
    super(`the runtime has stopped: ${cause.message}`, { cause })
  }
}

/** A syscall returned -errno; shaped like Node's fs errors. */
export class LinuxError extends UklklError {
  override name = 'LinuxError'
  constructor(readonly errno: number, readonly code: string, readonly syscall: string) {
    super(`${syscall}: ${code} (errno ${errno})`)
  }
}

/** A call on a kernel that has halted or failed. */
export class KernelStoppedError extends UklklError {
  override name = 'KernelStoppedError'
}

/** A task of the kernel as a SoftLockupError lists it. */
export interface KernelTask {
  pid: number
  /** As in /proc: R running, S sleeping, D uninterruptible, ... */
  state: string
  comm: string
}

/**
 * A kernel task held the one CPU for longer than the soft-lockup bound
 * (KernelOptions.softLockupMs): every other caller was kept out. It ended the
 * runtime; task names the holder, tasks is the kernel's view of all tasks.
 */
export class SoftLockupError extends UklklError {
  override name = 'SoftLockupError'
  constructor(readonly task: string, readonly heldMs: number, readonly boundMs: number, readonly tasks: readonly KernelTask[]) {
    super(`soft lockup: ${task} has held the CPU for ${heldMs} ms (bound ${boundMs} ms); tasks: ${
      tasks.map((t) => `${t.pid} ${t.state} ${t.comm}`).join(', ')}`)
  }
}

/**
 * A module that cannot run as a WASI program: not WebAssembly, not a WASI
 * command (no _start or no memory exported), or importing something WASI
 * preview 1 does not have (imports lists those). Nothing ran.
 */
export class WasiModuleError extends UklklError {
  override name = 'WasiModuleError'
  constructor(readonly program: string, detail: string, readonly imports: readonly string[] = [], options?: ErrorOptions) {
    super(`${program}: ${detail}`, options)
  }
}

/**
 * A WASI program trapped (unreachable, an out-of-bounds access, a stack
 * overflow): it ended there, its process was retired, and the kernel goes on.
 */
export class WasiTrapError extends UklklError {
  override name = 'WasiTrapError'
  constructor(readonly program: string, readonly trap: string) {
    super(`${program} trapped: ${trap}`)
  }
}
