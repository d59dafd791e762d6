/* SPDX-License-Identifier: MIT */
/*
 * unistd.h - the standard file descriptors and write().
 *
 * There are no files: write() sends fds 1 and 2 straight to the host console
 * (host_print), bypassing the stdio buffers, and fails with EBADF for any other fd.
 */
#ifndef NOLIBC_UNISTD_H
#define NOLIBC_UNISTD_H

#include <stddef.h>

#define STDIN_FILENO	0
#define STDOUT_FILENO	1
#define STDERR_FILENO	2

typedef long ssize_t;

ssize_t write(int fd, const void *buf, size_t count);

#endif /* NOLIBC_UNISTD_H */
