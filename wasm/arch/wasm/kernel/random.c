// SPDX-License-Identifier: GPL-2.0-only
/*
 * random.c - entropy from the host.
 *
 * The host's random op (its cryptographic RNG: Web Crypto) is this arch's
 * "RDSEED": arch_get_random_seed_longs draws on it, so random_init_early
 * mixes 512 bits of it into the input pool and credits them, and the crng is
 * ready before the first syscall; getrandom, /dev/random and /dev/urandom
 * never block. random_get_entropy() (the timing source of interrupt and
 * jitter entropy) reads the host clock.
 *
 * A seeded host (startKernel's seed option) gives the same stream on every
 * run. The kernel's crng would still differ from run to run: random_init
 * and every interrupt mix clock readings into the pool. So with a seed,
 * what callers read (getrandom, /dev/random, /dev/urandom) is served from
 * a ChaCha20 stream keyed once at boot from the host's stream: the same
 * seed gives the same bytes for the same sequence of reads, whatever the
 * timing.
 *
 * Limits: with a seed, the kernel's own get_random_*() and so everything
 * derived from them (hash seeds, TCP sequence numbers) still come from the
 * crng.
 */
#include <linux/cache.h>
#include <linux/init.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <crypto/chacha.h>
#include <asm/archrandom.h>
#include <asm/timex.h>
#include "wasm.h"

/* The host was given a seed: what callers read comes from seeded_stream. */
static bool seeded __ro_after_init;
static u32 seeded_stream[CHACHA_STATE_WORDS];

size_t wasm_get_random_seed_longs(unsigned long *v, size_t max_longs)
{
	host_random(v, max_longs * sizeof(*v));
	return max_longs;
}

unsigned long wasm_random_get_entropy(void)
{
	return (unsigned long)host_time();
}

/* From setup_arch: learn whether the host is seeded, and key the seeded stream if so. */
void __init wasm_random_init(void)
{
	static const u8 iv[CHACHA_IV_SIZE];
	u32 key[CHACHA_KEY_SIZE / sizeof(u32)];

	seeded = host_random(key, sizeof(key)) == 1;
	if (seeded)
		chacha_init(seeded_stream, key, iv);
	memzero_explicit(key, sizeof(key));
	if (seeded)
		pr_info("wasm: the host's random stream is seeded: getrandom and /dev/[u]random are reproducible\n");
}

/*
 * drivers/char/random.c serves getrandom and reads of /dev/random and
 * /dev/urandom in get_random_bytes_user, which asks here first (patch 0005):
 * with a seed, the bytes come from seeded_stream and *copied says how many
 * reached the caller; false without a seed (the crng serves). The stream is
 * shared: its lock keeps two tasks from drawing the same block when one is
 * preempted in the middle of chacha20_block.
 */
bool wasm_get_random_bytes_user(struct iov_iter *iter, size_t *copied)
{
	static DEFINE_SPINLOCK(lock);
	u8 block[CHACHA_BLOCK_SIZE];
	size_t n;

	if (!seeded)
		return false;
	*copied = 0;
	for (;;) {
		spin_lock(&lock);
		chacha20_block(seeded_stream, block);
		spin_unlock(&lock);
		n = copy_to_iter(block, sizeof(block), iter);
		*copied += n;
		if (n != sizeof(block) || !iov_iter_count(iter))
			break;
		if (*copied % PAGE_SIZE == 0) {
			if (signal_pending(current))
				break;
			cond_resched();
		}
	}
	memzero_explicit(block, sizeof(block));
	return true;
}
