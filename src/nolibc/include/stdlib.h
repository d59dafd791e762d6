/* SPDX-License-Identifier: MIT */
/*
 * stdlib.h - memory, number parsing, sorting and ending the program, for nolibc.
 *
 * Where this differs from a hosted C library:
 *  - malloc and friends take memory from the host (host_mem_alloc); blocks are
 *    16-byte aligned, a block bigger than PTRDIFF_MAX fails with ENOMEM, and
 *    free() aborts on a pointer that is not a live block.
 *  - There is no process. exit(0) flushes stdio and ends the calling thread (the
 *    fiber the host runs it on); exit(status != 0) flushes stdio, prints
 *    "exit(status)" and panics the host. There is no atexit.
 *  - abort() flushes stdio, prints "abort()" and panics the host.
 *  - No floating point (atof, strtod), no rand, no getenv, no multibyte functions.
 */
#ifndef NOLIBC_STDLIB_H
#define NOLIBC_STDLIB_H

#include <stddef.h>

#define EXIT_SUCCESS	0
#define EXIT_FAILURE	1

void *malloc(size_t size);
void *calloc(size_t nmemb, size_t size);
void *realloc(void *ptr, size_t size);
void free(void *ptr);

_Noreturn void abort(void);
_Noreturn void exit(int status);

int atoi(const char *nptr);
long atol(const char *nptr);
long strtol(const char *restrict nptr, char **restrict endptr, int base);
unsigned long strtoul(const char *restrict nptr, char **restrict endptr, int base);
long long strtoll(const char *restrict nptr, char **restrict endptr, int base);
unsigned long long strtoull(const char *restrict nptr, char **restrict endptr, int base);

int abs(int j);
long labs(long j);
long long llabs(long long j);

void qsort(void *base, size_t nmemb, size_t size, int (*compar)(const void *, const void *));
void *bsearch(const void *key, const void *base, size_t nmemb, size_t size,
	      int (*compar)(const void *, const void *));

#endif /* NOLIBC_STDLIB_H */
