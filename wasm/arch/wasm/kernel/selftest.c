// SPDX-License-Identifier: GPL-2.0-only
/*
 * selftest.c - LKL's host-level boot cases (mutex, semaphore, join) as
 * exports, so the boot suite can run them against the host ops this very
 * module imports. Nothing here touches kernel state or needs the CPU.
 */
#include "wasm.h"

int host_selftest_mutex(void)
{
	struct host_mutex *m = host_mutex_alloc(0);

	if (!m)
		return -1;
	host_mutex_lock(m);
	host_mutex_unlock(m);
	host_mutex_free(m);

	/* A recursive mutex may be taken twice by its owner. */
	m = host_mutex_alloc(1);
	if (!m)
		return -1;
	host_mutex_lock(m);
	host_mutex_lock(m);
	host_mutex_unlock(m);
	host_mutex_unlock(m);
	host_mutex_free(m);
	return 0;
}

int host_selftest_semaphore(void)
{
	struct host_sem *sem = host_sem_alloc(1);

	if (!sem)
		return -1;
	host_sem_down(sem);
	host_sem_up(sem);
	host_sem_free(sem);
	return 0;
}

static void selftest_thread(void *arg)
{
}

int host_selftest_join(void)
{
	host_thread_t t = host_thread_create(selftest_thread, NULL);

	if (!t)
		return -1;
	return host_thread_join(t) == 0 ? 0 : -1;
}
