/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/preempt.h - asm-generic's preempt count (in thread_info), except that
 * changing it is a call: preempt_disable()/enable() sit in every spinlock,
 * RCU reader and bottom-half section, and inline each one costs ~15 bytes
 * of wasm (load current_thread_info, load, add, store) where a call costs
 * ~5; with PREEMPT_COUNT (arch/wasm/Kconfig) that was most of what the
 * count added to lkl.wasm. wasm_preempt_count_add is in kernel/cpu.c.
 */
#ifndef __ASM_WASM_PREEMPT_H
#define __ASM_WASM_PREEMPT_H

#include <linux/thread_info.h>

#define PREEMPT_ENABLED	(0)

void wasm_preempt_count_add(int val);

static __always_inline int preempt_count(void)
{
	return READ_ONCE(current_thread_info()->preempt_count);
}

static __always_inline volatile int *preempt_count_ptr(void)
{
	return &current_thread_info()->preempt_count;
}

static __always_inline void preempt_count_set(int pc)
{
	*preempt_count_ptr() = pc;
}

/* Macros: thread_info's users include this header before sched.h. */
#define init_task_preempt_count(p) do { \
	task_thread_info(p)->preempt_count = FORK_PREEMPT_COUNT; \
} while (0)

#define init_idle_preempt_count(p, cpu) do { \
	task_thread_info(p)->preempt_count = PREEMPT_DISABLED; \
} while (0)

static __always_inline void set_preempt_need_resched(void)
{
}

static __always_inline void clear_preempt_need_resched(void)
{
}

static __always_inline bool test_preempt_need_resched(void)
{
	return false;
}

static __always_inline void __preempt_count_add(int val)
{
	wasm_preempt_count_add(val);
}

static __always_inline void __preempt_count_sub(int val)
{
	wasm_preempt_count_add(-val);
}

/* Only CONFIG_PREEMPTION's preempt_enable() uses it; kept for the interface. */
static __always_inline bool __preempt_count_dec_and_test(void)
{
	return !--*preempt_count_ptr() && tif_need_resched();
}

/* need_resched and the count at preempt_offset: the caller may schedule (IRQs aside). */
static __always_inline bool should_resched(int preempt_offset)
{
	return unlikely(preempt_count() == preempt_offset &&
			tif_need_resched());
}

#endif /* __ASM_WASM_PREEMPT_H */
