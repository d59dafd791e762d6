/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * asm/ptrace.h - there is no user mode and no register file to trace: the
 * user-visible register set is the syscall number and its six arguments.
 */
#ifndef _UAPI_ASM_WASM_PTRACE_H
#define _UAPI_ASM_WASM_PTRACE_H

#ifndef __ASSEMBLY__
struct user_regs_struct {
	long syscallno;
	unsigned long args[6];
};
#endif

#endif
