// SPDX-License-Identifier: MIT
/**
 * jump.ts - host_setjmp/host_longjmp: jump points as asyncify snapshots.
 *
 * setjmp unwinds the fiber to the trampoline, which copies the used part of its
 * asyncify buffer and its stack pointer, then rewinds it at once to return 0.
 * longjmp unwinds the fiber too, and the trampoline puts that copy back over
 * what the unwind saved and rewinds: setjmp returns again, with the value. The C
 * stack memory is left as it is, exactly as with a native setjmp. The jmp_buf
 * holds only the owning fiber's id and a serial naming the copy; copies die with
 * their fiber.
 */
import { type HostContext, type Ptr, hex } from './context.js'

export interface JumpOps {
  setjmp(jb: Ptr<'host_jmp_buf'>): number
  longjmp(jb: Ptr<'host_jmp_buf'>, val: number): number
}

const JMP_BUF_SIZE = 8

export function jumpOps(ctx: HostContext): JumpOps {
  return {
    setjmp(jb) {
      return ctx.sched.suspendable((fiber) => {
        ctx.checkRange('setjmp', jb, JMP_BUF_SIZE)
        const view = ctx.view()
        // Setting the same jmp_buf again replaces its copy instead of keeping both.
        const old = view.getUint32(jb + 4, true)
        const serial = view.getUint32(jb, true) === fiber.id && fiber.jumpPoints.has(old) ? old : ctx.sched.newJumpSerial()
        view.setUint32(jb, fiber.id, true)
        view.setUint32(jb + 4, serial, true)
        return ctx.sched.setjmp(fiber, serial)
      })
    },
    longjmp(jb, val) {
      return ctx.sched.suspendable((fiber) => {
        ctx.checkRange('longjmp', jb, JMP_BUF_SIZE)
        const view = ctx.view()
        const owner = view.getUint32(jb, true)
        const serial = view.getUint32(jb + 4, true)
        if (owner !== fiber.id) {
          throw ctx.misuse('longjmp', `jmp_buf ${hex(jb)} ${owner === 0 ? 'was never set' : `belongs to thread ${owner}`}`)
        }
        if (!fiber.jumpPoints.has(serial)) throw ctx.misuse('longjmp', `jmp_buf ${hex(jb)} was never set`)
        return ctx.sched.longjmp(fiber, serial, val === 0 ? 1 : val)
      })
    },
  }
}
