/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/linkage.h - wasm has no labels whose address can be taken (computed
 * goto is not implemented), so _THIS_IP_ is 0 ("unknown"); it only feeds
 * tracing and debug messages. cond_syscall is never used: syscalls go through
 * asm/syscall_wrapper.h, whose COND_SYSCALL makes weak C stubs instead of
 * assembler aliases (which crash clang for wasm).
 */
#ifndef _ASM_WASM_LINKAGE_H
#define _ASM_WASM_LINKAGE_H

#define _THIS_IP_ 0UL

/* sys_ni.c's fallback; never reached because COND_SYSCALL is defined. */
#define cond_syscall(x)

#define __ALIGN
#define __ALIGN_STR ""

#endif
