// SPDX-License-Identifier: GPL-2.0-only
/*
 * spin.c - /proc/wasm-spin, a test hook compiled into every image: a write
 * makes the writing task busy-wait in the kernel, the way a syscall stuck in
 * a spin loop would, so that the tests can check that everyone else still
 * runs (test/kernel/responsive.test.ts). Commands, one per write:
 *
 *   spin     loop until released, with nothing in the loop: no call, no
 *            cpu_relax(), no schedule(); only preemption ends its turn
 *   relax    the same with cpu_relax() in the loop
 *   atomic   loop with preemption disabled until 5 jiffies have passed:
 *            interrupts still run (jiffies advance), no other task does
 *   release  end every spin and relax loop running now
 *
 * A read gives the number of tasks in a spin or relax loop.
 *
 * Limits: root only; a loop nobody releases runs until the soft-lockup
 * watchdog stops the kernel.
 */
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/preempt.h>
#include <linux/proc_fs.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/processor.h>

#define ATOMIC_JIFFIES	5

static unsigned long releases;
static atomic_t spinners = ATOMIC_INIT(0);

/* Kept out of line: its loop must stay a loop with nothing that may block in it. */
static noinline void spin_until_released(unsigned long seen)
{
	while (READ_ONCE(releases) == seen)
		;
}

static noinline void relax_until_released(unsigned long seen)
{
	while (READ_ONCE(releases) == seen)
		cpu_relax();
}

static noinline void spin_atomic(void)
{
	unsigned long end = jiffies + ATOMIC_JIFFIES;

	preempt_disable();
	while (time_before(jiffies, end))
		;
	preempt_enable();
}

static ssize_t spin_write(struct file *file, const char __user *ubuf, size_t len, loff_t *pos)
{
	char cmd[8] = {};
	unsigned long seen = READ_ONCE(releases);

	if (len >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, len))
		return -EFAULT;
	if (!strcmp(cmd, "release")) {
		WRITE_ONCE(releases, seen + 1);
	} else if (!strcmp(cmd, "spin") || !strcmp(cmd, "relax")) {
		atomic_inc(&spinners);
		if (cmd[0] == 's')
			spin_until_released(seen);
		else
			relax_until_released(seen);
		atomic_dec(&spinners);
	} else if (!strcmp(cmd, "atomic")) {
		spin_atomic();
	} else {
		return -EINVAL;
	}
	return len;
}

static ssize_t spin_read(struct file *file, char __user *ubuf, size_t len, loff_t *pos)
{
	char text[16];
	int n = scnprintf(text, sizeof(text), "%d\n", atomic_read(&spinners));

	return simple_read_from_buffer(ubuf, len, pos, text, n);
}

static const struct proc_ops spin_ops = {
	.proc_write	= spin_write,
	.proc_read	= spin_read,
	.proc_lseek	= default_llseek,
};

static int __init spin_init(void)
{
	return proc_create("wasm-spin", 0600, NULL, &spin_ops) ? 0 : -ENOMEM;
}
device_initcall(spin_init);
