/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/unistd.h - the generic 32-bit syscall set (see kernel/Makefile.syscalls)
 * and the legacy entry points it keeps.
 */
#ifndef _ASM_WASM_UNISTD_H
#define _ASM_WASM_UNISTD_H

#include <uapi/asm/unistd.h>

#define __ARCH_WANT_STAT64
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_RENAMEAT
#define __ARCH_WANT_SYS_CLONE

#define NR_syscalls (__NR_syscalls)

#endif
