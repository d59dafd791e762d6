// SPDX-License-Identifier: GPL-2.0-only
/*
 * syscalls.c - the syscall table and kernel_syscall, the export host
 * threads make syscalls with.
 *
 * A syscall runs on the calling host thread as that thread's "host task",
 * found through a host TLS key: the first syscall of a thread clones a new
 * host task from host0 (pid 1, so every host thread is a thread of process
 * 1), and the key's destructor retires the task when the thread exits.
 * kernel_new_thread_group gives the calling thread a process of its own.
 * A host task that dies inside a syscall (exit, exit_group, a fatal signal)
 * ends that syscall through host_thread_return, so no jump point is taken
 * on the way in: the syscall then returns 0 and the thread's next syscall
 * clones a new task.
 *
 * Every table entry has the uniform type long (*)(const long *args) (see
 * asm/syscall_wrapper.h for how args are laid out); call_indirect traps on
 * any other. After the call, queued task work runs, as it would on the way
 * back to user mode; signals are not delivered (there is no user mode).
 */
#include <linux/syscalls.h>
#include <linux/sched/task.h>
#include <linux/task_work.h>
#include <linux/pid_namespace.h>
#include <linux/unistd.h>
#include <asm/syscall_wrapper.h>
#include "wasm.h"

static long wasm_sys_ni(const long *args)
{
	return -ENOSYS;
}

/* No signal frames to return from. */
SYSCALL_DEFINE0(rt_sigreturn)
{
	return -ENOSYS;
}

/* The 32-bit ABI's mmap: the offset counts 4096-byte units. */
SYSCALL_DEFINE6(mmap2, unsigned long, addr, unsigned long, len, unsigned long, prot,
		unsigned long, flags, unsigned long, fd, unsigned long, pgoff)
{
	return ksys_mmap_pgoff(addr, len, prot, flags, fd, pgoff >> (PAGE_SHIFT - 12));
}

#define sys_ni_syscall	wasm_sys_ni

#define __SYSCALL(nr, call)	long call(const long *args);
#define __SYSCALL_WITH_COMPAT(nr, native, compat)	__SYSCALL(nr, native)
#include <asm/syscall_table_32.h>
#undef __SYSCALL

#define __SYSCALL(nr, call)	[nr] = (call),

static const wasm_syscall_t wasm_sys_call_table[__NR_syscalls] = {
	[0 ... __NR_syscalls - 1] = wasm_sys_ni,
#include <asm/syscall_table_32.h>
};

static struct host_tls_key *task_key;

/* A host thread's task: a thread of pid 1. */
#define HOST_THREAD_FLAGS \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)
/* After kernel_new_thread_group: a process of its own, child of pid 1. */
#define HOST_PROCESS_FLAGS	(CLONE_VM | CLONE_FS | CLONE_FILES | SIGCHLD)

/* Clone a host task from host0 (pid 1) on the calling thread, which owns the CPU. */
static struct task_struct *new_host_task(unsigned long flags)
{
	struct task_struct *task;
	pid_t pid;

	wasm_switch_to_host_task(wasm_host0);
	pid = user_mode_thread(wasm_host_task_stub, NULL, flags);
	if (pid < 0)
		return ERR_PTR(pid);

	rcu_read_lock();
	/* No reference is kept: a host task only exits on its own thread. */
	task = find_task_by_pid_ns(pid, &init_pid_ns);
	rcu_read_unlock();
	if (!task)
		return ERR_PTR(-ESRCH);
	snprintf(task->comm, sizeof(task->comm), "host%d", pid);
	return task;
}

/*
 * End task, a host task of the calling thread, which owns the CPU. On
 * return the CPU has gone with the task's last switch.
 */
static void exit_host_task(struct task_struct *task)
{
	struct wasm_thread *wt;

	wasm_switch_to_host_task(task);
	wt = current_thread_info()->host;
	wt->exiting = true;
	if (!setjmp(&wt->exit_jb))
		do_exit(0);
	/* The task is dead; its host state is this thread's to free. */
	wasm_thread_free(wt);
}

/*
 * From __switch_to: wt's host task is dead and the CPU has gone with its
 * last switch. Back to exit_host_task if that is where it died; otherwise it
 * died in a syscall, which returns 0 to the host at once.
 */
void wasm_host_task_died(struct wasm_thread *wt)
{
	if (wt->exiting)
		longjmp(&wt->exit_jb, 1);
	host_tls_set(task_key, NULL);
	wasm_thread_free(wt);
	host_thread_return(0);
}

/* TLS destructor, on the exiting host thread: its host task exits too. */
static void retire_host_task(void *task)
{
	if (wasm_cpu_get(host_thread_self()) < 0)
		return;		/* halted: nothing runs any more */
	exit_host_task(task);
}

int wasm_syscalls_init(void)
{
	task_key = host_tls_alloc(retire_host_task);
	return task_key ? 0 : -ENOMEM;
}

long lkl_syscall(long nr, long *args)
{
	/* Asked once: the calling thread is the same on the way in and out. */
	host_thread_t self = host_thread_self();
	struct task_struct *task;
	long ret;

	if (!wasm_host0)
		return -EAGAIN;		/* boot is not complete */
	if (wasm_cpu_get(self) < 0)
		return -ESHUTDOWN;

	task = host_tls_get(task_key);
	if (!task) {
		task = new_host_task(HOST_THREAD_FLAGS);
		if (IS_ERR(task)) {
			wasm_cpu_put(self);
			return PTR_ERR(task);
		}
		host_tls_set(task_key, task);
	}
	wasm_switch_to_host_task(task);

	if (nr < 0 || nr >= __NR_syscalls)
		ret = -ENOSYS;
	else
		ret = wasm_sys_call_table[nr](args);
	task_work_run();

	wasm_cpu_put(self);
	return ret;
}

long lkl_new_thread_group(void)
{
	host_thread_t self = host_thread_self();
	struct task_struct *task;

	if (!wasm_host0)
		return -EAGAIN;
	if (wasm_cpu_get(self) < 0)
		return -ESHUTDOWN;

	task = host_tls_get(task_key);
	if (task) {
		host_tls_set(task_key, NULL);
		exit_host_task(task);
		if (wasm_cpu_get(self) < 0)
			return -ESHUTDOWN;
	}
	task = new_host_task(HOST_PROCESS_FLAGS);
	if (IS_ERR(task)) {
		wasm_cpu_put(self);
		return PTR_ERR(task);
	}
	host_tls_set(task_key, task);
	wasm_switch_to_host_task(task);
	wasm_cpu_put(self);
	return 0;
}
