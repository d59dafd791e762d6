/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/thread_info.h - per-task arch state. A task never runs on its kernel
 * "stack" (every task is a host thread with a stack of its own), so the
 * THREAD_SIZE area only holds this struct; it is small.
 *
 * host points to state kept in host memory (mem_alloc), because a task's
 * host thread may still be waking up after the kernel has freed the task:
 * see kernel/threads.c for who owns it when.
 */
#ifndef _ASM_WASM_THREAD_INFO_H
#define _ASM_WASM_THREAD_INFO_H

#define THREAD_SIZE_ORDER	0
#define THREAD_SIZE		1024

#ifndef __ASSEMBLY__
#include <asm/types.h>
#include <asm/processor.h>

struct wasm_thread;
struct task_struct;

struct thread_info {
	struct task_struct *task;
	unsigned long flags;
	int preempt_count;
	/* Host-side scheduling state; NULL only for a task being torn down. */
	struct wasm_thread *host;
	/* The task that ran before this one on the CPU (for schedule_tail). */
	struct task_struct *prev_sched;
};

#define INIT_THREAD_INFO(tsk)				\
{							\
	.task		= &tsk,				\
	.flags		= 0,				\
	.preempt_count	= INIT_PREEMPT_COUNT,		\
}

/* The running task's thread_info; changed only by __switch_to. */
extern struct thread_info *wasm_current_ti;

static inline struct thread_info *current_thread_info(void)
{
	return wasm_current_ti;
}

#endif /* __ASSEMBLY__ */

#define TIF_SYSCALL_TRACE	0
#define TIF_NOTIFY_RESUME	1
#define TIF_SIGPENDING		2
#define TIF_NEED_RESCHED	3
#define TIF_RESTORE_SIGMASK	4
#define TIF_MEMDIE		5
#define TIF_NOTIFY_SIGNAL	6
/* The task is a host task: it runs syscalls on a thread the kernel did not create. */
#define TIF_HOST_THREAD		7
/* Switching away from this task returns its host thread to sched_jb (it leaves the kernel). */
#define TIF_SCHED_JB		8

#define _TIF_SYSCALL_TRACE	(1 << TIF_SYSCALL_TRACE)
#define _TIF_NOTIFY_RESUME	(1 << TIF_NOTIFY_RESUME)
#define _TIF_SIGPENDING		(1 << TIF_SIGPENDING)
#define _TIF_NEED_RESCHED	(1 << TIF_NEED_RESCHED)
#define _TIF_RESTORE_SIGMASK	(1 << TIF_RESTORE_SIGMASK)
#define _TIF_MEMDIE		(1 << TIF_MEMDIE)
#define _TIF_NOTIFY_SIGNAL	(1 << TIF_NOTIFY_SIGNAL)
#define _TIF_HOST_THREAD	(1 << TIF_HOST_THREAD)
#define _TIF_SCHED_JB		(1 << TIF_SCHED_JB)

#endif
