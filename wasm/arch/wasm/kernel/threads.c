// SPDX-License-Identifier: GPL-2.0-only
/*
 * threads.c - tasks as host threads, and the context switch.
 *
 * Every task runs on a host thread: a kernel thread on one created for it
 * (copy_thread), a host task on whichever host thread is making a syscall
 * as it (syscalls.c). Exactly one host thread runs kernel code at a time:
 * the owner of the CPU (cpu.c). __switch_to passes the CPU to the next
 * task's thread by raising that task's semaphore, then parks the previous
 * task's thread on its own semaphore until the task is scheduled again.
 *
 * A host thread leaves the kernel in the middle of schedule() through a
 * jump point (wasm_sched_jb): it marks the task it runs as TIF_SCHED_JB,
 * and __switch_to, instead of parking it, jumps back to that point. That is
 * how a syscall caller, a timer thread or the idle host task hands the CPU
 * to a kernel thread and returns to the host.
 *
 * Limits: no user-mode clone (no user context to start a child in); a task
 * is never migrated between host threads except host tasks, which run on
 * the thread of each syscall.
 */
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/sched/debug.h>
#include <asm/sections.h>
#include <asm/switch_to.h>
#include "wasm.h"

/* init_task's thread_info lives at the start of init_stack (sections.c). */
struct thread_info *wasm_current_ti = (struct thread_info *)init_stack;

/* The task all host tasks are cloned from: pid 1 after it "execs" /init. */
struct task_struct *wasm_host0;

static struct wasm_thread *wasm_thread_alloc(struct task_struct *task)
{
	struct wasm_thread *wt = host_mem_alloc(sizeof(*wt));

	if (!wt)
		return NULL;
	memset(wt, 0, sizeof(*wt));
	wt->sem = host_sem_alloc(0);
	if (!wt->sem) {
		host_mem_free(wt);
		return NULL;
	}
	wt->task = task;
	return wt;
}

/* Only host memory is touched: safe after the CPU went to another thread. */
void wasm_thread_free(struct wasm_thread *wt)
{
	host_sem_free(wt->sem);
	host_mem_free(wt);
}

/* Called on the boot thread before start_kernel: init_task gets its host state. */
int wasm_threads_init(void)
{
	struct thread_info *ti = task_thread_info(&init_task);

	*ti = init_thread_info;
	ti->host = wasm_thread_alloc(&init_task);
	return ti->host ? 0 : -ENOMEM;
}

struct thread_bootstrap {
	int (*fn)(void *);
	void *arg;
	struct task_struct *task;
	struct wasm_thread *wt;
};

int wasm_host_task_stub(void *unused)
{
	return 0;
}

static void thread_bootstrap(void *data)
{
	struct thread_bootstrap b = *(struct thread_bootstrap *)data;

	host_mem_free(data);
	host_thread_detach();

	/* Wait for the first __switch_to to this task. */
	host_sem_down(b.wt->sem);
	if (b.wt->dead) {
		/* fork failed after copy_thread: the task never ran. */
		wasm_thread_free(b.wt);
		host_thread_exit();
	}
	schedule_tail(current_thread_info()->prev_sched);

	/*
	 * kernel_init returns 0 once pid 1 "exec'd" /init: the task then lives
	 * on as the template of host tasks and its host thread ends.
	 */
	if (!b.fn(b.arg) && current == wasm_init_execd)
		wasm_become_host0();
	do_exit(0);
}

int copy_thread(struct task_struct *p, const struct kernel_clone_args *args)
{
	struct thread_info *ti = task_thread_info(p);
	struct thread_bootstrap *b;
	struct wasm_thread *wt;

	/* setup_thread_stack copied the parent's thread_info: none of it is ours. */
	ti->host = NULL;
	ti->prev_sched = NULL;
	clear_ti_thread_flag(ti, TIF_HOST_THREAD);
	clear_ti_thread_flag(ti, TIF_SCHED_JB);

	/* A user-mode clone would need a user context to start the child in. */
	if (!args->fn)
		return -EINVAL;

	wt = wasm_thread_alloc(p);
	if (!wt)
		return -ENOMEM;

	if (args->fn == wasm_host_task_stub) {
		/* The creating thread runs it first (syscalls.c, new_host_task). */
		set_ti_thread_flag(ti, TIF_HOST_THREAD);
		wt->tid = host_thread_self();
		ti->host = wt;
		return 0;
	}

	b = host_mem_alloc(sizeof(*b));
	if (!b) {
		wasm_thread_free(wt);
		return -ENOMEM;
	}
	b->fn = args->fn;
	b->arg = args->fn_arg;
	b->task = p;
	b->wt = wt;
	wt->tid = host_thread_create(thread_bootstrap, b);
	if (!wt->tid) {
		host_mem_free(b);
		wasm_thread_free(wt);
		return -ENOMEM;
	}
	ti->host = wt;
	return 0;
}

/*
 * The task struct is being freed. A task that ran has already given its
 * host state away in __switch_to (ti->host == NULL). One that never ran
 * still has a host thread parked in thread_bootstrap (woken here to end), or
 * none at all (a host task). A thread_info copied from the parent by a fork
 * that failed early names the parent's state: wt->task tells.
 */
void arch_release_task_struct(struct task_struct *tsk)
{
	struct thread_info *ti = task_thread_info(tsk);
	struct wasm_thread *wt = ti->host;

	if (!wt || wt->task != tsk)
		return;
	ti->host = NULL;
	if (test_ti_thread_flag(ti, TIF_HOST_THREAD)) {
		wasm_thread_free(wt);
		return;
	}
	wt->dead = true;
	host_sem_up(wt->sem);
}

/*
 * Leave the kernel from inside schedule(): returns true on this host thread
 * once another task got the CPU (the caller no longer owns it), false if
 * schedule() kept the current task (the caller still owns the CPU). The
 * caller sets the task's state first, so that schedule() can switch away.
 */
bool wasm_sched_jb(void)
{
	struct wasm_thread *wt = current_thread_info()->host;

	if (setjmp(&wt->jb))
		return true;
	set_thread_flag(TIF_SCHED_JB);
	schedule();
	clear_thread_flag(TIF_SCHED_JB);
	return false;
}

struct task_struct *__switch_to(struct task_struct *prev, struct task_struct *next)
{
	struct thread_info *pti = task_thread_info(prev);
	struct thread_info *nti = task_thread_info(next);
	struct wasm_thread *pwt = pti->host;
	struct wasm_thread *nwt = nti->host;
	bool leave = test_and_clear_ti_thread_flag(pti, TIF_SCHED_JB);
	bool host_task = test_ti_thread_flag(pti, TIF_HOST_THREAD);
	bool dying = READ_ONCE(prev->__state) == TASK_DEAD;

	BUG_ON(!nwt || !nwt->tid);
	wasm_current_ti = nti;
	nti->prev_sched = prev;
	/* A dead task's host state belongs to its host thread from here on. */
	if (dying)
		pti->host = NULL;
	wasm_cpu_change_owner(nwt->tid);

	/*
	 * From this sem_up on, next's thread owns the CPU and may run at any
	 * moment (the host preempts fibers): no kernel state may be touched
	 * below, and prev may already be freed. Only pwt is used, which belongs
	 * to this host thread.
	 */
	host_sem_up(nwt->sem);

	if (dying) {
		if (host_task)
			wasm_host_task_died(pwt);
		wasm_thread_free(pwt);
		host_thread_exit();
	}
	if (leave)
		longjmp(&pwt->jb, 1);

	host_sem_down(pwt->sem);

	/*
	 * Scheduled again: this thread owns the CPU. Tell schedule() which
	 * task ran before us - not the prev above, which is this very task.
	 */
	return current_thread_info()->prev_sched;
}

/*
 * Make task (a host task) the current task on the calling thread, which
 * owns the CPU. The task that is current now is a host task whose thread
 * is outside the kernel (or the idle host task): it is put to sleep, as a
 * host task outside a syscall always is, and the scheduler runs until it
 * picks task, whose semaphore this thread then waits on.
 */
void wasm_switch_to_host_task(struct task_struct *task)
{
	struct wasm_thread *wt = task_thread_info(task)->host;

	if (current == task)
		return;
	if (WARN_ON(!test_tsk_thread_flag(current, TIF_HOST_THREAD)))
		return;

	wt->tid = host_thread_self();
	wake_up_process(task);
	/* A wake-up that raced with the sleep makes schedule() keep current: retry. */
	do {
		set_current_state(TASK_UNINTERRUPTIBLE);
	} while (!wasm_sched_jb());
	host_sem_down(wt->sem);
	schedule_tail(current_thread_info()->prev_sched);
}

/* wasm cannot walk its own stack, and a task has no saved registers. */
void show_stack(struct task_struct *task, unsigned long *sp, const char *loglvl)
{
}

void show_regs(struct pt_regs *regs)
{
	show_regs_print_info(KERN_DEFAULT);
}
