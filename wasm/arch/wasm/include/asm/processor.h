/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/processor.h - the "processor" is the CPU token passed between host
 * threads (kernel/cpu.c). cpu_relax() must never spin on a fiber host: it
 * yields to the host and runs interrupts that came in meanwhile, so a loop
 * waiting on jiffies or on another thread makes progress.
 */
#ifndef _ASM_WASM_PROCESSOR_H
#define _ASM_WASM_PROCESSOR_H

#ifndef __ASSEMBLY__

struct task_struct;

void wasm_cpu_relax(void);

static inline void cpu_relax(void)
{
	wasm_cpu_relax();
}

/* A 32-bit wasm memory is the whole address space. */
#define TASK_SIZE	(0xffffffffUL)
/*
 * But user pointers must lie in the user arena (asm/uaccess.h): its end is
 * the top of user memory, where strncpy_from_user and strnlen_user stop.
 */
extern unsigned long wasm_user_end;
#define TASK_SIZE_MAX	wasm_user_end
#define STACK_TOP	TASK_SIZE
#define STACK_TOP_MAX	STACK_TOP

struct thread_struct { };
#define INIT_THREAD { }

#define KSTK_EIP(tsk)	(0)
#define KSTK_ESP(tsk)	(0)

static inline unsigned long __get_wchan(struct task_struct *p)
{
	return 0;
}

static inline void prepare_to_copy(struct task_struct *tsk)
{
}

#define current_text_addr() 0UL

#endif /* __ASSEMBLY__ */

#endif
