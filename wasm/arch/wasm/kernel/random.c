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
 * getrandom is served from a ChaCha20 stream keyed once at boot from the
 * host's stream: the same seed gives the same bytes for the same sequence
 * of getrandom calls, whatever the timing.
 *
 * Limits: with a seed, only getrandom is reproducible; /dev/urandom, the
 * kernel's own get_random_*() and so everything derived from them (hash
 * seeds, TCP sequence numbers) still come from the crng.
 */
#include <linux/cache.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/minmax.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <crypto/chacha.h>
#include <asm/archrandom.h>
#include <asm/timex.h>
#include "wasm.h"

/* The host was given a seed: getrandom comes from seeded_stream. */
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
		pr_info("wasm: the host's random stream is seeded: getrandom is reproducible\n");
}

/* getrandom(2) from the seeded stream, with the kernel's argument checks. */
static long seeded_getrandom(char __user *buf, size_t len, unsigned int flags)
{
	u8 block[CHACHA_BLOCK_SIZE];
	size_t done = 0;

	if (flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	if ((flags & (GRND_INSECURE | GRND_RANDOM)) == (GRND_INSECURE | GRND_RANDOM))
		return -EINVAL;
	len = min_t(size_t, len, MAX_RW_COUNT);
	if (!access_ok(buf, len))
		return -EFAULT;

	while (done < len) {
		size_t n = min_t(size_t, len - done, sizeof(block));

		chacha20_block(seeded_stream, block);
		if (copy_to_user(buf + done, block, n))
			break;
		done += n;
		if (done % PAGE_SIZE == 0) {
			if (signal_pending(current))
				break;
			cond_resched();
		}
	}
	memzero_explicit(block, sizeof(block));
	return done || !len ? done : -EFAULT;
}

long sys_getrandom(const long *args);

/* The syscall table's getrandom (syscalls.c). */
long wasm_sys_getrandom(const long *args)
{
	if (!seeded)
		return sys_getrandom(args);
	return seeded_getrandom((char __user *)args[0], (size_t)args[1], (unsigned int)args[2]);
}
