// SPDX-License-Identifier: GPL-2.0-only
/*
 * cpu.c - the one CPU, as a token that host threads take and give back.
 *
 * A host thread runs kernel code only while it owns the CPU: syscall
 * callers (syscalls.c), timer and device threads raising IRQs (irq.c), the
 * idle host task, and kernel threads (which receive it in __switch_to).
 * Ownership may be taken recursively by its owner (count); others wait on
 * cpu.sem. The state is guarded by a host mutex because the host can
 * preempt a fiber at any instrumented point, even in here.
 *
 * When the kernel has nothing to run, the idle task (swapper) wakes the
 * idle host task, whose thread gives the CPU back to the host and sleeps
 * (during boot, before that task exists, see arch_cpu_idle).
 * So while no host thread owns the CPU, the current task is always a host
 * task whose thread is outside the kernel (or the idle host task), and the
 * next owner may run the scheduler in its name (wasm_sched_jb).
 *
 * Sharing: threads waiting for the CPU are not tasks the scheduler sees, so
 * a syscall that runs long (a loop through schedule() or cond_resched())
 * would keep them out for as long as it runs. When one has held the CPU for
 * a tick while others wait, the timer interrupt wakes the idle host task
 * (wasm_cpu_make_way): at the holder's next pass through schedule() the
 * scheduler may switch to it, and it gives the CPU to the waiting threads
 * even though the holder is still runnable; one of them runs the scheduler,
 * which resumes the holder in its turn.
 *
 * Soft lockups: cpu.since says how long the holder has had the CPU without a
 * switch; kernel_soft_lockup (the host's watchdog) reports a holder that has
 * had it for too long, with the kernel's list of tasks.
 *
 * Limits: no SMP; after wasm_cpu_shutdown (halt) the CPU can no longer be
 * taken and kernel threads stay parked for good. A loop that never passes
 * through schedule() (only cpu_relax, or nothing) keeps waiting threads out
 * until it ends; the watchdog is what ends one that does not.
 */
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/sched/task.h>
#include <linux/preempt.h>
#include <linux/cpu.h>
#include <linux/irqflags.h>
#include <linux/jiffies.h>
#include <linux/sprintf.h>
#include <asm/irq.h>
#include "wasm.h"

static struct {
	struct host_mutex *lock;	/* guards everything below */
	host_thread_t owner;		/* 0: free */
	unsigned int count;		/* recursion depth of the owner */
	unsigned int sleepers;		/* threads waiting on sem */
	struct host_sem *sem;
	/* host_time when the CPU last changed hands; 0 while it is free. */
	u64 since;
	bool shutdown;
	/* During boot the idle swapper waits on idle_sem for an IRQ. */
	struct host_sem *idle_sem;
	bool idle_waiting;
} cpu;

static struct task_struct *idle_host_task;

int wasm_cpu_init(void)
{
	cpu.lock = host_mutex_alloc(0);
	cpu.sem = host_sem_alloc(0);
	cpu.idle_sem = host_sem_alloc(0);
	if (!cpu.lock || !cpu.sem || !cpu.idle_sem)
		return -ENOMEM;
	return 0;
}

static void cpu_bug(const char *what)
{
	static const char prefix[] = "wasm cpu: ";

	host_print(prefix, sizeof(prefix) - 1);
	host_print(what, strlen(what));
	host_print("\n", 1);
	host_panic();
}

/* 1: the caller owns the CPU now; 0: another thread does; -1: halted. Lock held. */
static int cpu_try_take(void)
{
	host_thread_t self = host_thread_self();

	if (cpu.shutdown)
		return -1;
	if (cpu.owner && !host_thread_equal(cpu.owner, self))
		return 0;
	if (!cpu.count)
		cpu.since = host_time();
	cpu.owner = self;
	cpu.count++;
	return 1;
}

/* Take the CPU, waiting for it; -ESHUTDOWN once the kernel is halted. */
int wasm_cpu_get(void)
{
	int ret;

	host_mutex_lock(cpu.lock);
	while ((ret = cpu_try_take()) == 0) {
		cpu.sleepers++;
		host_mutex_unlock(cpu.lock);
		host_sem_down(cpu.sem);
		host_mutex_lock(cpu.lock);
	}
	host_mutex_unlock(cpu.lock);
	return ret < 0 ? -ESHUTDOWN : 0;
}

/* For an IRQ: take the CPU only if nobody else has it. 1 if taken. */
int wasm_cpu_try_get_for_irq(void)
{
	int ret;

	host_mutex_lock(cpu.lock);
	ret = cpu_try_take();
	host_mutex_unlock(cpu.lock);
	return ret > 0;
}

/* __switch_to: the CPU now belongs to next's thread, with the same count. */
void wasm_cpu_change_owner(host_thread_t owner)
{
	host_mutex_lock(cpu.lock);
	if (cpu.count != 1)
		cpu_bug("CPU changes hands while held recursively");
	cpu.owner = owner;
	cpu.since = host_time();
	host_mutex_unlock(cpu.lock);
}

/*
 * Give the CPU back. Pending IRQs run first. If the last hold is released
 * by a host thread running a host task while other tasks are runnable, the
 * scheduler runs first (in the host task's name, which goes to sleep) and
 * the CPU leaves with the switch; otherwise it becomes free.
 */
void wasm_cpu_put(void)
{
	host_mutex_lock(cpu.lock);
	if (!cpu.count || !host_thread_equal(cpu.owner, host_thread_self()))
		cpu_bug("CPU released by a thread that does not own it");

	while (wasm_irqs_pending && !irqs_disabled()) {
		host_mutex_unlock(cpu.lock);
		wasm_run_irqs();
		host_mutex_lock(cpu.lock);
	}

	/*
	 * The idle host task was picked to make way (wasm_cpu_make_way): it
	 * gives the CPU to the waiting threads even if tasks are runnable.
	 */
	if (cpu.count == 1 && !in_interrupt() &&
	    test_thread_flag(TIF_HOST_THREAD) &&
	    !(current == idle_host_task && cpu.sleepers) &&
	    (need_resched() || !single_task_running())) {
		host_mutex_unlock(cpu.lock);
		set_current_state(TASK_UNINTERRUPTIBLE);
		if (wasm_sched_jb())
			return;
		host_mutex_lock(cpu.lock);
	}

	if (--cpu.count == 0) {
		cpu.owner = 0;
		cpu.since = 0;
		if (cpu.sleepers) {
			cpu.sleepers--;
			host_sem_up(cpu.sem);
		}
	}
	host_mutex_unlock(cpu.lock);
}

void wasm_cpu_shutdown(void)
{
	host_mutex_lock(cpu.lock);
	cpu.shutdown = true;
	/* Waiters wake and find the CPU gone. */
	while (cpu.sleepers) {
		cpu.sleepers--;
		host_sem_up(cpu.sem);
	}
	host_mutex_unlock(cpu.lock);
}

/*
 * The idle host task: a kernel thread that, each time the scheduler picks
 * it, gives the CPU back to the host and sleeps until it is picked again.
 */
static int idle_host_task_loop(void *unused)
{
	struct wasm_thread *wt = current_thread_info()->host;

	set_thread_flag(TIF_HOST_THREAD);
	for (;;) {
		wasm_cpu_put();
		host_sem_down(wt->sem);
		schedule_tail(current_thread_info()->prev_sched);
	}
	return 0;
}

/* On pid 1 at the end of boot (syscalls.c cannot come before): see arch_cpu_idle. */
void wasm_create_idle_host_task(void)
{
	pid_t pid = kernel_thread(idle_host_task_loop, NULL, "idle_host", CLONE_FS | CLONE_FILES);

	if (pid < 0)
		panic("wasm: cannot create the idle host task: %d\n", pid);
	rcu_read_lock();
	idle_host_task = find_task_by_pid_ns(pid, &init_pid_ns);
	rcu_read_unlock();
}

/* An IRQ came while the CPU is held: wake the idle task if it waits for one. */
void wasm_cpu_wake_idle(void)
{
	host_mutex_lock(cpu.lock);
	if (cpu.idle_waiting) {
		cpu.idle_waiting = false;
		host_sem_up(cpu.idle_sem);
	}
	host_mutex_unlock(cpu.lock);
}

/*
 * Nothing to run. Called on swapper with IRQs off; returns with them on.
 *
 * Once boot is complete, the idle host task takes the CPU back to the host
 * (the scheduler switches to it as soon as it is awake). During boot it
 * does not exist yet and no syscall can come, so the swapper keeps the CPU
 * and its thread sleeps until an IRQ arrives (wasm_cpu_wake_idle).
 */
void arch_cpu_idle(void)
{
	bool wait;

	if (idle_host_task) {
		if (!need_resched())
			wake_up_process(idle_host_task);
		raw_local_irq_enable();
		return;
	}
	host_mutex_lock(cpu.lock);
	wait = cpu.idle_waiting = !wasm_irqs_pending;
	host_mutex_unlock(cpu.lock);
	if (wait)
		host_sem_down(cpu.idle_sem);
	raw_local_irq_enable();
}

/*
 * From the timer interrupt, on the CPU's owner: if host threads wait for the
 * CPU and the current task has had it for a tick, wake the idle host task so
 * that the scheduler can switch to it and it can hand the CPU over (see
 * "Sharing" above). Racy reads are fine: a missed waiter is seen next tick.
 */
void wasm_cpu_make_way(void)
{
	if (!idle_host_task || current == idle_host_task || !READ_ONCE(cpu.sleepers))
		return;
	if (host_time() - READ_ONCE(cpu.since) >= TICK_NSEC)
		wake_up_process(idle_host_task);
}

/*
 * kernel_soft_lockup, for the host's watchdog: see host-ops.h. Runs on
 * whichever thread the host is in, without the CPU: it only reads.
 */
int lkl_soft_lockup(int bound_ms, char *buf, int len)
{
	u64 since = READ_ONCE(cpu.since);
	struct task_struct *holder = current, *g, *t;
	u64 held_ms;
	int n;

	/*
	 * Boot is not watched: the swapper holds the CPU for long stretches
	 * (setting up memory takes a third of a second for 64 MiB), and no
	 * caller is kept out yet. Nor is halt.
	 */
	if (!lkl_is_running() || !since || bound_ms <= 0 || len <= 0)
		return 0;
	held_ms = div_u64(host_time() - since, NSEC_PER_MSEC);
	if (held_ms <= bound_ms)
		return 0;
	n = scnprintf(buf, len, "%d %llu %s\n", task_pid_nr(holder), held_ms, holder->comm);
	rcu_read_lock();
	for_each_process_thread(g, t)
		n += scnprintf(buf + n, len - n, "%d %c %s\n", task_pid_nr(t), task_state_to_char(t), t->comm);
	rcu_read_unlock();
	return n;
}

/* cpu_relax(): let other fibers (timers, devices) run, then take their IRQs. */
void wasm_cpu_relax(void)
{
	host_yield();
	if (wasm_irqs_pending && !irqs_disabled())
		wasm_run_irqs();
}
