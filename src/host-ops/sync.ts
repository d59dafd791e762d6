// SPDX-License-Identifier: MIT
/**
 * sync.ts - the semaphore and mutex families on the scheduler's primitives.
 *
 * Misuse (a bad or freed handle, freeing with waiters, unlocking a mutex the caller
 * does not own, relocking a non-recursive one) throws a HostOpMisuseError naming
 * the op and the fiber.
 */
import { Mutex } from '../sched/mutex.js'
import { type Scheduler, type Suspended, noValue } from '../sched/scheduler.js'
import { Semaphore } from '../sched/semaphore.js'
import { type HostContext, type Ptr, hex } from './context.js'
import type { Handles } from './handles.js'

export interface SemaphoreOps {
  sem_alloc(count: number): Ptr<'host_sem'>
  sem_free(sem: Ptr<'host_sem'>): void
  sem_up(sem: Ptr<'host_sem'>): void
  sem_down(sem: Ptr<'host_sem'>): Suspended<unknown>
}

export interface MutexOps {
  mutex_alloc(recursive: number): Ptr<'host_mutex'>
  mutex_free(mutex: Ptr<'host_mutex'>): void
  mutex_lock(mutex: Ptr<'host_mutex'>): Suspended<unknown>
  mutex_unlock(mutex: Ptr<'host_mutex'>): void
}

const MUTEX_MISUSE = {
  'relock': 'locked a non-recursive mutex it already holds (that would deadlock)',
  'not-owner': 'unlocked a mutex owned by another fiber',
  'not-locked': 'unlocked a mutex that is not locked',
} as const

/** A semaphore or a mutex as plain data, for a boot snapshot: threads by id, waiters in order. */
export type SyncRecord =
  | { readonly kind: 'semaphore', readonly count: number, readonly waiters: readonly number[] }
  | { readonly kind: 'mutex', readonly recursive: boolean, readonly owner: number | null, readonly depth: number,
    readonly waiters: readonly number[] }

const newSemaphore = (handle: number, count: number): Semaphore => new Semaphore(count, () => `semaphore ${hex(handle)}`)
const newMutex = (handle: number, recursive: boolean): Mutex => new Mutex(recursive, () => `mutex ${hex(handle)}`)

export function saveSync(value: Semaphore | Mutex): SyncRecord {
  const waiters = value.queue.waiters.map((f) => f.id)
  return value instanceof Semaphore ? { kind: 'semaphore', count: value.count, waiters }
    : { kind: 'mutex', recursive: value.recursive, owner: value.owner?.id ?? null, depth: value.depth, waiters }
}

/** The semaphore or mutex of record, its waiters back in its queue (threads already loaded into sched). */
export function loadSync(sched: Scheduler, handle: number, record: SyncRecord): Semaphore | Mutex {
  if (record.kind === 'semaphore') {
    const s = newSemaphore(handle, record.count)
    sched.putBack(s.queue, record.waiters)
    return s
  }
  const m = newMutex(handle, record.recursive)
  if (record.owner !== null) {
    const owner = sched.fiber(record.owner)
    if (owner === undefined) throw new Error(`mutex ${hex(handle)}: its owner ${record.owner} was not saved`)
    m.owner = owner
    m.depth = record.depth
  }
  sched.putBack(m.queue, record.waiters)
  return m
}

export function semaphoreOps(ctx: HostContext, handles: Handles): SemaphoreOps {
  const sem = (handle: number, op: string): Semaphore => handles.get<Semaphore>('semaphore', handle, op)
  return {
    sem_alloc(count) {
      if (count < 0) throw ctx.misuse('sem_alloc', `negative count ${count}`)
      let handle = 0
      handle = handles.add('semaphore', new Semaphore(count, () => `semaphore ${hex(handle)}`))
      return handle as Ptr<'host_sem'>
    },
    sem_free(handle) {
      const s = sem(handle, 'sem_free')
      if (s.queue.length > 0) throw ctx.misuse('sem_free', `semaphore ${hex(handle)} freed while ${s.queue.length} fibers wait on it`)
      handles.remove('semaphore', handle, 'sem_free')
    },
    sem_up(handle) {
      sem(handle, 'sem_up').up(ctx.sched)
    },
    sem_down(handle) {
      return noValue(ctx.sched.suspendable((fiber) => sem(handle, 'sem_down').down(ctx.sched, fiber)))
    },
  }
}

export function mutexOps(ctx: HostContext, handles: Handles): MutexOps {
  const mutex = (handle: number, op: string): Mutex => handles.get<Mutex>('mutex', handle, op)
  return {
    mutex_alloc(recursive) {
      let handle = 0
      handle = handles.add('mutex', new Mutex(recursive !== 0, () => `mutex ${hex(handle)}`))
      return handle as Ptr<'host_mutex'>
    },
    mutex_free(handle) {
      const m = mutex(handle, 'mutex_free')
      if (m.owner !== null) throw ctx.misuse('mutex_free', `mutex ${hex(handle)} freed while ${m.owner} holds it`)
      handles.remove('mutex', handle, 'mutex_free')
    },
    mutex_lock(handle) {
      return noValue(ctx.sched.suspendable((fiber) => {
        const result = mutex(handle, 'mutex_lock').lock(ctx.sched, fiber)
        if (typeof result === 'string') throw ctx.misuse('mutex_lock', `${MUTEX_MISUSE[result]} (${hex(handle)})`)
        return result
      }))
    },
    mutex_unlock(handle) {
      const result = mutex(handle, 'mutex_unlock').unlock(ctx.sched, ctx.sched.current)
      if (result !== 0) throw ctx.misuse('mutex_unlock', `${MUTEX_MISUSE[result]} (${hex(handle)})`)
    },
  }
}
