// SPDX-License-Identifier: GPL-2.0-only
/*
 * cpu.c - the one CPU, as a token that host threads take and give back.
 *
 * A host thread runs kernel code only while it owns the CPU: syscall
 * callers (syscalls.c), timer and device threads raising IRQs (irq.c), the
 * idle host task, and kernel threads (which receive it in __switch_to).
 * Ownership may be taken recursively by its owner (count); others wait on
 * cpu.sem. The state is guarded by a lock because the host can preempt a
 * fiber at any preemption point, even in here (a loop's fuel check). The
 * lock is a flag, not a host mutex: fibers share one JS thread, and nothing
 * between testing the flag and setting it can switch fibers, so taking a
 * free lock costs no host call (two fewer per syscall, each way).
 *
 * When the kernel has nothing to run, the idle task (swapper) wakes the
 * idle host task, whose thread gives the CPU back to the host and sleeps
 * (during boot, before that task exists, see arch_cpu_idle).
 * So while no host thread owns the CPU, the current task is always a host
 * task whose thread is outside the kernel (or the idle host task), and the
 * next owner may run the scheduler in its name (wasm_sched_jb).
 *
 * Sharing: threads waiting for the CPU are not tasks the scheduler sees, so
 * a syscall that runs long would keep them out for as long as it runs. When
 * one has held the CPU for a tick while others wait, the timer interrupt
 * wakes the idle host task (wasm_cpu_make_way): once the scheduler switches
 * to it, it gives the CPU to the waiting threads even though the holder is
 * still runnable; one of them runs the scheduler, which resumes the holder
 * in its turn.
 *
 * Preemption: the scheduler switches at schedule() and cond_resched(), and
 * also where real hardware would preempt - when an interrupt arrives while
 * preemption is allowed. Interrupts arrive here at wasm_preempt_point, which
 * the build calls from every loop of the kernel each time the loop's fuel
 * runs out (scripts/preempt-pass.ts), and at cpu_relax(): pending IRQs run
 * there (the tick sets need_resched), and if need_resched is set while
 * preempt_count() is 0 (CONFIG_PREEMPT_COUNT makes spinlocks, RCU readers
 * and preempt_disable() count), the task is preempted as cond_resched()
 * would. So a task spinning in a loop that never calls schedule() lets
 * other tasks, other callers' syscalls and timers run.
 *
 * Soft lockups: cpu.since says how long the holder has had the CPU without a
 * switch; kernel_soft_lockup (the host's watchdog) reports a holder that has
 * had it for too long, with the kernel's list of tasks. A take or a switch
 * leaves it unstamped, and the holder's first preemption point or timer
 * interrupt stamps it: a syscall that never gets that far asks the host for
 * no clock, and a hold is measured from within one tick of its start.
 *
 * Limits: no SMP; after wasm_cpu_shutdown (halt) the CPU can no longer be
 * taken and kernel threads stay parked for good. A task spinning with
 * preemption or interrupts disabled keeps everyone out until it ends, as on
 * real hardware; the watchdog is what ends one that does not.
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
	/* The lock that guards everything below is held (by some thread): see cpu_lock(). */
	bool locked;
	/* Threads asleep on lock_sem, waiting for the lock. */
	unsigned int lock_waiters;
	struct host_sem *lock_sem;
	/* kernel_soft_lockup runs, called from inside a host op. */
	bool reporting;
	host_thread_t owner;		/* 0: free */
	unsigned int count;		/* recursion depth of the owner */
	unsigned int sleepers;		/* threads waiting on sem */
	struct host_sem *sem;
	/* host_time soon after the CPU last changed hands (see stamp_since); 0 while free or unstamped. */
	u64 since;
	bool shutdown;
	/* During boot the idle swapper waits on idle_sem for an IRQ. */
	struct host_sem *idle_sem;
	bool idle_waiting;
} cpu;

static struct task_struct *idle_host_task;

int wasm_cpu_init(void)
{
	cpu.lock_sem = host_sem_alloc(0);
	cpu.sem = host_sem_alloc(0);
	cpu.idle_sem = host_sem_alloc(0);
	if (!cpu.lock_sem || !cpu.sem || !cpu.idle_sem)
		return -ENOMEM;
	return 0;
}

/*
 * No loop and no host call between the test and the set: no other fiber can
 * run in between (see the top of the file). A taken lock is waited for on
 * lock_sem, and cpu_unlock hands it to one sleeper, so it stays taken.
 */
static void cpu_lock(void)
{
	if (!cpu.locked) {
		cpu.locked = true;
		return;
	}
	cpu.lock_waiters++;
	host_sem_down(cpu.lock_sem);
}

static void cpu_unlock(void)
{
	if (cpu.lock_waiters) {
		cpu.lock_waiters--;
		host_sem_up(cpu.lock_sem);
		return;
	}
	cpu.locked = false;
}

static void cpu_bug(const char *what)
{
	static const char prefix[] = "wasm cpu: ";

	host_print(prefix, sizeof(prefix) - 1);
	host_print(what, strlen(what));
	host_print("\n", 1);
	host_panic();
}

/*
 * Whether a and b name the same thread: equal handles always do, so the
 * host is asked only about handles that differ (never, on a syscall's way in
 * and out).
 */
static bool same_thread(host_thread_t a, host_thread_t b)
{
	return a == b || host_thread_equal(a, b);
}

/* The holder's first preemption point or timer interrupt: when its hold began, near enough (see the top). */
static void stamp_since(void)
{
	if (cpu.count && !READ_ONCE(cpu.since))
		WRITE_ONCE(cpu.since, host_time());
}

/* 1: the caller (self) owns the CPU now; 0: another thread does; -1: halted. Lock held. */
static int cpu_try_take(host_thread_t self)
{
	if (cpu.shutdown)
		return -1;
	if (cpu.owner && !same_thread(cpu.owner, self))
		return 0;
	cpu.owner = self;
	cpu.count++;
	return 1;
}

/* Take the CPU for self, waiting for it; -ESHUTDOWN once the kernel is halted. */
int wasm_cpu_get(host_thread_t self)
{
	int ret;

	cpu_lock();
	while ((ret = cpu_try_take(self)) == 0) {
		cpu.sleepers++;
		cpu_unlock();
		host_sem_down(cpu.sem);
		cpu_lock();
	}
	cpu_unlock();
	return ret < 0 ? -ESHUTDOWN : 0;
}

/* For an IRQ: take the CPU only if nobody else has it. 1 if taken. */
int wasm_cpu_try_get_for_irq(host_thread_t self)
{
	int ret;

	cpu_lock();
	ret = cpu_try_take(self);
	cpu_unlock();
	return ret > 0;
}

/* __switch_to: the CPU now belongs to next's thread, with the same count. */
void wasm_cpu_change_owner(host_thread_t owner)
{
	cpu_lock();
	if (cpu.count != 1)
		cpu_bug("CPU changes hands while held recursively");
	cpu.owner = owner;
	cpu.since = 0;
	cpu_unlock();
}

/*
 * Give the CPU back. Pending IRQs run first. If the last hold is released
 * by a host thread running a host task while other tasks are runnable, the
 * scheduler runs first (in the host task's name, which goes to sleep) and
 * the CPU leaves with the switch; otherwise it becomes free.
 */
void wasm_cpu_put(host_thread_t self)
{
	cpu_lock();
	if (!cpu.count || !same_thread(cpu.owner, self))
		cpu_bug("CPU released by a thread that does not own it");

	while (wasm_irqs_pending && !irqs_disabled()) {
		cpu_unlock();
		wasm_run_irqs();
		cpu_lock();
	}

	/*
	 * The idle host task was picked to make way (wasm_cpu_make_way): it
	 * gives the CPU to the waiting threads even if tasks are runnable.
	 */
	if (cpu.count == 1 && !in_interrupt() &&
	    test_thread_flag(TIF_HOST_THREAD) &&
	    !(current == idle_host_task && cpu.sleepers) &&
	    (need_resched() || !single_task_running())) {
		cpu_unlock();
		set_current_state(TASK_UNINTERRUPTIBLE);
		if (wasm_sched_jb())
			return;
		cpu_lock();
	}

	if (--cpu.count == 0) {
		cpu.owner = 0;
		cpu.since = 0;
		if (cpu.sleepers) {
			cpu.sleepers--;
			host_sem_up(cpu.sem);
		}
	}
	cpu_unlock();
}

void wasm_cpu_shutdown(void)
{
	cpu_lock();
	cpu.shutdown = true;
	/* Waiters wake and find the CPU gone. */
	while (cpu.sleepers) {
		cpu.sleepers--;
		host_sem_up(cpu.sem);
	}
	cpu_unlock();
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
		wasm_cpu_put(host_thread_self());
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
	cpu_lock();
	if (cpu.idle_waiting) {
		cpu.idle_waiting = false;
		host_sem_up(cpu.idle_sem);
	}
	cpu_unlock();
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
	cpu_lock();
	wait = cpu.idle_waiting = !wasm_irqs_pending;
	cpu_unlock();
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
	u64 since = READ_ONCE(cpu.since);

	if (!idle_host_task || current == idle_host_task || !READ_ONCE(cpu.sleepers))
		return;
	if (!since)
		stamp_since();
	else if (host_time() - since >= TICK_NSEC)
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
	/* Its loops reach wasm_preempt_point, which must not switch tasks here. */
	cpu.reporting = true;
	n = scnprintf(buf, len, "%d %llu %s\n", task_pid_nr(holder), held_ms, holder->comm);
	rcu_read_lock();
	for_each_process_thread(g, t)
		n += scnprintf(buf + n, len - n, "%d %c %s\n", task_pid_nr(t), task_state_to_char(t), t->comm);
	rcu_read_unlock();
	cpu.reporting = false;
	return n;
}

/*
 * May the calling thread take interrupts and be preempted here? Only if it
 * owns the CPU (once: __switch_to hands over a count of 1) and runs the
 * current task: a timer's thread running IRQs owns the CPU in the name of a
 * task that is not its own. Not under cpu.lock (__switch_to takes it), nor
 * inside kernel_soft_lockup, which runs within a host op (its thread cannot
 * switch). Not as host0 either: a thread runs host0 only to clone its own
 * host task, and once it has woken that task (wasm_switch_to_host_task) a
 * preemption would park the thread on host0 while the scheduler may hand
 * the CPU to the woken task - on the same, parked thread. Racy reads are
 * fine: a thread that does not own the CPU never sees itself as the owner.
 */
static bool cpu_preemptible(void)
{
	struct wasm_thread *wt = current_thread_info()->host;
	host_thread_t self;

	if (READ_ONCE(cpu.locked) || cpu.reporting || cpu.shutdown ||
	    cpu.count != 1 || irqs_disabled() || !wt || current == wasm_host0)
		return false;
	self = host_thread_self();
	return same_thread(cpu.owner, self) && same_thread(wt->tid, self);
}

/* asm/preempt.h: the count changes out of line, one call instead of ~15 bytes inline. */
void wasm_preempt_count_add(int val)
{
	current_thread_info()->preempt_count += val;
}

/* What an interrupt arriving here would do on real hardware: see "Preemption" above. */
static void cpu_interrupt_point(void)
{
	if (!cpu_preemptible())
		return;
	if (wasm_irqs_pending)
		wasm_run_irqs();
	/* preempt_count() == 0 && need_resched(); __cond_resched switches as a preemption. */
	if (should_resched(0))
		__cond_resched();
}

/*
 * Called by every loop of the kernel when its fuel runs out (the build adds
 * the call; nothing in C calls it, hence __used): the host's tick first,
 * which refills the fuel, fires host timers, checks the watchdog and may
 * run other fibers; then the kernel's.
 */
__used void wasm_preempt_point(void)
{
	host_preempt_tick();
	if (!cpu.reporting)
		stamp_since();
	cpu_interrupt_point();
}

/* cpu_relax(): let other fibers (timers, devices) run, then take their IRQs. */
void wasm_cpu_relax(void)
{
	host_yield();
	cpu_interrupt_point();
}
