// SPDX-License-Identifier: GPL-2.0-only
/*
 * string.c - the memory primitives as bulk-memory instructions: with
 * -mbulk-memory clang lowers these builtins to memory.copy / memory.fill,
 * never to a call, so they cannot recurse into themselves.
 */
#include <linux/string.h>

void *memcpy(void *dest, const void *src, size_t n)
{
	return __builtin_memcpy(dest, src, n);
}

void *memmove(void *dest, const void *src, size_t n)
{
	return __builtin_memmove(dest, src, n);
}

void *memset(void *s, int c, size_t n)
{
	return __builtin_memset(s, c, n);
}
