// SPDX-License-Identifier: MIT
/*
 * host-selftest.c - LKL's host-level boot cases (mutex, semaphore, join) as
 * exports: they exercise the host ops of the module they are linked into. The
 * runtime tests run them on a fixture; the kernel image links them too, so that
 * `uklkl boot` runs them against the very imports the kernel uses. Each returns
 * 0 when the case passed (declared in host-ops.h). Nothing here needs more
 * than host-ops.h.
 */
#include "host-ops.h"

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

static void quit_at_once(void *arg)
{
	(void)arg;
}

int host_selftest_join(void)
{
	host_thread_t t = host_thread_create(quit_at_once, 0);

	if (!t)
		return -1;
	return host_thread_join(t) == 0 ? 0 : -1;
}
