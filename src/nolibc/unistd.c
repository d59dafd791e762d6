// SPDX-License-Identifier: MIT
/*
 * unistd.c - write(): the one path from nolibc to the host console. stdout and
 * stderr (fds 1 and 2) go to host_print unbuffered; there are no other files.
 */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "host-ops.h"

/**
 * write() - Write bytes to the console.
 * @fd: STDOUT_FILENO or STDERR_FILENO; both reach the same console.
 * @buf: the bytes; they stay the caller's.
 * @count: how many.
 *
 * Never blocks and never writes less than asked, except that a count above
 * INT_MAX (what one host_print takes, and what ssize_t holds on wasm32) is cut
 * to INT_MAX, as POSIX allows.
 *
 * Return: the number of bytes written, or -1 with errno EBADF for any other fd.
 */
ssize_t write(int fd, const void *buf, size_t count)
{
	if (fd != STDOUT_FILENO && fd != STDERR_FILENO) {
		errno = EBADF;
		return -1;
	}
	if (count > INT_MAX)
		count = INT_MAX;
	if (count)
		host_print(buf, (int)count);
	return count;
}
