/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/archrandom.h - the host's random op is this arch's seed source
 * (kernel/random.c): every call fills the whole request. There is no
 * separate, cheaper "RDRAND": random.c falls back to the seed source.
 */
#ifndef _ASM_WASM_ARCHRANDOM_H
#define _ASM_WASM_ARCHRANDOM_H

#include <linux/types.h>

size_t wasm_get_random_seed_longs(unsigned long *v, size_t max_longs);

static inline size_t __must_check arch_get_random_longs(unsigned long *v, size_t max_longs)
{
	return 0;
}

static inline size_t __must_check arch_get_random_seed_longs(unsigned long *v, size_t max_longs)
{
	return wasm_get_random_seed_longs(v, max_longs);
}

/*
 * getrandom and reads of /dev/random and /dev/urandom ask this first (patch
 * 0005): with a seeded host they come from a reproducible stream.
 */
struct iov_iter;
bool wasm_get_random_bytes_user(struct iov_iter *iter, size_t *copied);
#define arch_get_random_bytes_user wasm_get_random_bytes_user

#endif
