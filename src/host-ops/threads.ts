// SPDX-License-Identifier: MIT
/**
 * threads.ts - the thread and thread-local-storage families.
 *
 * A thread is a fiber; its handle and its tid are both the fiber's id, which is
 * never reused. thread_exit throws through the caller's frames to the trampoline,
 * which runs the TLS destructors in that fiber and then wakes its joiner;
 * thread_return throws to it too, and its root returns the value there.
 */
import { FiberExit, RootReturn, type Suspended } from '../sched/scheduler.js'
import { type HostContext, type Ptr, hex } from './context.js'

export type ThreadHandle = number

export interface ThreadOps {
  thread_create(fn: number, arg: number): ThreadHandle
  thread_detach(): void
  thread_exit(): never
  thread_return(value: number): never
  thread_join(thread: ThreadHandle): Suspended<number>
  thread_self(): ThreadHandle
  thread_equal(a: ThreadHandle, b: ThreadHandle): number
  gettid(): number
}

export interface TlsOps {
  tls_alloc(destructor: number): Ptr<'host_tls_key'>
  tls_free(key: Ptr<'host_tls_key'>): void
  tls_set(key: Ptr<'host_tls_key'>, data: number): number
  tls_get(key: Ptr<'host_tls_key'>): number
}

export function threadOps(ctx: HostContext): ThreadOps {
  return {
    thread_create(fn, arg) {
      const fiber = ctx.sched.spawn({ name: 'thread', root: { fn: ctx.hostEntry as (...a: number[]) => unknown, args: [fn, arg] } })
      return fiber?.id ?? 0
    },
    thread_detach() {
      ctx.sched.detach(ctx.sched.current)
    },
    thread_exit() {
      throw new FiberExit()
    },
    thread_return(value) {
      throw new RootReturn(value)
    },
    thread_join(thread) {
      return ctx.sched.suspendable((fiber) => {
        const target = ctx.sched.fiber(thread)
        if (target !== undefined) return ctx.sched.join(fiber, target)
        // A thread that existed and is gone was joined already or was detached.
        if (thread > 0 && thread <= ctx.sched.lastFiberId) return -1
        throw ctx.misuse('thread_join', `${hex(thread)} is not a thread`)
      })
    },
    thread_self() {
      return ctx.sched.current.id
    },
    thread_equal(a, b) {
      return a === b ? 1 : 0
    },
    gettid() {
      return ctx.sched.current.id
    },
  }
}

export function tlsOps(ctx: HostContext): TlsOps {
  return {
    tls_alloc(destructor) {
      return ctx.sched.allocTlsKey(destructor) as Ptr<'host_tls_key'>
    },
    tls_free(key) {
      if (!ctx.sched.freeTlsKey(key)) throw ctx.misuse('tls_free', `${hex(key)} is not a live TLS key`)
    },
    tls_set(key, data) {
      if (!ctx.sched.hasTlsKey(key)) return -1
      ctx.sched.current.tls.set(key, data)
      return 0
    },
    tls_get(key) {
      return ctx.sched.current.tls.get(key) ?? 0
    },
  }
}
