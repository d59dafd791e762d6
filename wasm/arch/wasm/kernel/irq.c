// SPDX-License-Identifier: GPL-2.0-only
/*
 * irq.c - interrupts raised by the host.
 *
 * kernel_trigger_irq (an export) marks the line pending and, if the CPU is
 * free, takes it and runs the handlers at once on the calling thread (a
 * timer's or a device's). If another thread owns the CPU, the owner runs
 * them when it turns interrupts on, in cpu_relax(), or when it gives the CPU
 * back. kernel_mark_irq only marks the line, for the owner itself (a device
 * completing a request inside the owner's register write). "Interrupts disabled" is one flag, only read by the CPU owner.
 *
 * Lines are plain numbers 1..NR_IRQS-1, handed out by wasm_get_free_irq
 * (also exported, so the host can reserve lines for virtio-mmio devices
 * before boot); handlers use a chip with nothing to mask.
 *
 * The pending and used bitmaps are touched by threads that do not own the
 * CPU, so only with the non-atomic bit operations: the "atomic" ones save
 * and restore the interrupt flag, and restoring it runs pending handlers -
 * on a thread that does not own the CPU, in the middle of whatever the
 * owner was doing. A one-word read-modify-write is atomic here anyway: the
 * host switches fibers only at loop headers and host calls.
 */
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/hardirq.h>
#include <linux/bitops.h>
#include <asm/irq.h>
#include <asm/irq_regs.h>
#include "wasm.h"

unsigned long wasm_irq_flags = ARCH_IRQ_DISABLED;
bool wasm_irqs_pending;

static unsigned long pending[BITS_TO_LONGS(NR_IRQS)];
static unsigned long used[BITS_TO_LONGS(NR_IRQS)];

static void run_irq(unsigned int irq)
{
	/*
	 * There are no interrupted registers, but the tick handler does its
	 * per-tick work (time accounting, the timer wheel, the scheduler tick)
	 * only when get_irq_regs() is set: without them no timer_list timer
	 * ever fired and no task's slice ever ran out.
	 */
	static struct pt_regs no_regs;
	struct pt_regs *old_regs;
	unsigned long flags;

	local_irq_save(flags);
	old_regs = set_irq_regs(&no_regs);
	irq_enter();
	generic_handle_irq(irq);
	irq_exit();
	set_irq_regs(old_regs);
	local_irq_restore(flags);
}

void wasm_run_irqs(void)
{
	static bool running;
	unsigned int irq;

	/* Handlers may enable IRQs again (softirqs do): no nesting here. */
	if (running)
		return;
	running = true;
	while (wasm_irqs_pending) {
		wasm_irqs_pending = false;
		for_each_set_bit(irq, pending, NR_IRQS) {
			__clear_bit(irq, pending);
			run_irq(irq);
		}
	}
	running = false;
}

void wasm_irq_enable(void)
{
	wasm_irq_flags = ARCH_IRQ_ENABLED;
	if (unlikely(wasm_irqs_pending))
		wasm_run_irqs();
}

int lkl_trigger_irq(int irq)
{
	host_thread_t self;

	if (irq <= 0 || irq >= NR_IRQS)
		return -EINVAL;

	__set_bit(irq, pending);
	wasm_irqs_pending = true;
	self = host_thread_self();
	if (!wasm_cpu_try_get_for_irq(self)) {
		/* The owner runs it; if it is the idle swapper, it must wake first. */
		wasm_cpu_wake_idle();
		return 0;
	}
	if (!irqs_disabled())
		wasm_run_irqs();
	wasm_cpu_put(self);
	return 0;
}

/* From a host op of the CPU's owner: the owner runs the handler at its next interrupt point. */
int lkl_mark_irq(int irq)
{
	if (irq <= 0 || irq >= NR_IRQS)
		return -EINVAL;
	__set_bit(irq, pending);
	wasm_irqs_pending = true;
	return 0;
}

int wasm_get_free_irq(const char *user)
{
	unsigned int irq;

	for (irq = 1; irq < NR_IRQS; irq++)
		if (!__test_and_set_bit(irq, used))
			return irq;
	return -ENOSPC;
}

void wasm_put_irq(int irq, const char *user)
{
	if (irq > 0 && irq < NR_IRQS)
		__clear_bit(irq, used);
}

int lkl_get_free_irq(const char *user)
{
	return wasm_get_free_irq(user);
}

void lkl_put_irq(int irq, const char *user)
{
	wasm_put_irq(irq, user);
}

static void wasm_irq_noop(struct irq_data *data)
{
}

static struct irq_chip wasm_irq_chip = {
	.name		= "wasm",
	.irq_mask	= wasm_irq_noop,
	.irq_unmask	= wasm_irq_noop,
};

void __init init_IRQ(void)
{
	unsigned int irq;

	for (irq = 1; irq < NR_IRQS; irq++)
		irq_set_chip_and_handler(irq, &wasm_irq_chip, handle_simple_irq);
}
