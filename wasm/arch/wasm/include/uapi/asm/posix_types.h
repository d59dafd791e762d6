/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * asm/posix_types.h - clang's wasm32 size_t is unsigned long (not the
 * unsigned int the generic 32-bit header picks), so the kernel's size types
 * follow the compiler's; everything else is the generic 32-bit set.
 */
#ifndef _UAPI_ASM_WASM_POSIX_TYPES_H
#define _UAPI_ASM_WASM_POSIX_TYPES_H

typedef unsigned long	__kernel_size_t;
typedef long		__kernel_ssize_t;
typedef long		__kernel_ptrdiff_t;
#define __kernel_size_t __kernel_size_t

#include <asm-generic/posix_types.h>

#endif
