/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/* asm/sigcontext.h - signals are never delivered to a user context here. */
#ifndef _UAPI_ASM_WASM_SIGCONTEXT_H
#define _UAPI_ASM_WASM_SIGCONTEXT_H

#include <asm/ptrace.h>

struct sigcontext {
	struct user_regs_struct regs;
	unsigned long oldmask;
};

#endif
