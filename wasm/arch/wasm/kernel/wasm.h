/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wasm.h - what the arch's own files share: the host boundary and the
 * internal interfaces between threads.c, cpu.c, irq.c, time.c, syscalls.c
 * and setup.c. Not included by generic kernel code.
 */
#ifndef _WASM_KERNEL_WASM_H
#define _WASM_KERNEL_WASM_H

#include <linux/types.h>
#include <host-ops.h>

struct task_struct;

/*
 * Host-side state of a task: its wake-up semaphore, the host thread that
 * runs it and its jump points. It lives in host memory (mem_alloc) because
 * a task's host thread still uses it after the task is gone: when a task
 * dies, __switch_to hands it to the task's thread, which frees it; a task
 * that never ran is ended through "dead" (threads.c).
 */
struct wasm_thread {
	struct host_sem *sem;
	host_thread_t tid;
	/* Where the thread leaves the kernel from inside schedule() (TIF_SCHED_JB). */
	struct host_jmp_buf jb;
	/* Host tasks in exit_host_task: where the thread returns once the task is dead. */
	struct host_jmp_buf exit_jb;
	struct task_struct *task;
	bool dead;
	/* exit_jb is set: the host task is being ended by its thread, not by a syscall. */
	bool exiting;
};

/* threads.c */
int wasm_threads_init(void);
void wasm_thread_free(struct wasm_thread *wt);
bool wasm_sched_jb(void);
extern struct task_struct *wasm_init_execd;
void wasm_become_host0(void);
void wasm_switch_to_host_task(struct task_struct *task);
extern struct task_struct *wasm_host0;
int wasm_host_task_stub(void *unused);

/* syscalls.c */
void wasm_host_task_died(struct wasm_thread *wt) __attribute__((noreturn));

/* cpu.c */
int wasm_cpu_init(void);
/* self: the calling thread's handle (host_thread_self()), asked once by a caller that takes and puts. */
int wasm_cpu_get(host_thread_t self);
void wasm_cpu_put(host_thread_t self);
int wasm_cpu_try_get_for_irq(host_thread_t self);
void wasm_cpu_change_owner(host_thread_t owner);
void wasm_cpu_shutdown(void);
void wasm_cpu_wake_idle(void);
void wasm_create_idle_host_task(void);
void wasm_cpu_make_way(void);
void wasm_preempt_point(void);

/* irq.c */
extern bool wasm_irqs_pending;

/* time.c */
void wasm_time_halt(void);

/* syscalls.c */
int wasm_syscalls_init(void);

/* setup.c */
extern bool wasm_halting;

/* uaccess.c */
void wasm_user_memory_init(void);

/* random.c */
void wasm_random_init(void);

/* sections.c */
void wasm_sched_classes_init(void);

#endif
