/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/ptrace.h - a task has no saved user registers: pt_regs only records
 * the syscall being run, for code that asks for it.
 */
#ifndef _ASM_WASM_PTRACE_H
#define _ASM_WASM_PTRACE_H

#include <uapi/asm/ptrace.h>

#ifndef __ASSEMBLY__
struct task_struct;

struct pt_regs {
	long syscallno;
	unsigned long args[6];
};

#define user_mode(regs)			0
#define kernel_mode(regs)		1
#define instruction_pointer(regs)	0UL
#define profile_pc(regs)		instruction_pointer(regs)
#define user_stack_pointer(regs)	0UL
#define current_pt_regs()		((struct pt_regs *)NULL)
#define task_pt_regs(tsk)		((struct pt_regs *)NULL)

static inline long regs_return_value(struct pt_regs *regs)
{
	return 0;
}

#endif /* __ASSEMBLY__ */

#endif
