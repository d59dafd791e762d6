/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/string.h - memcpy, memmove and memset are single bulk-memory
 * instructions (memory.copy, memory.fill) instead of lib/string.c's loops.
 */
#ifndef _ASM_WASM_STRING_H
#define _ASM_WASM_STRING_H

#define __HAVE_ARCH_MEMCPY
#define __HAVE_ARCH_MEMMOVE
#define __HAVE_ARCH_MEMSET

extern void *memcpy(void *dest, const void *src, __kernel_size_t n);
extern void *memmove(void *dest, const void *src, __kernel_size_t n);
extern void *memset(void *s, int c, __kernel_size_t n);

#endif
