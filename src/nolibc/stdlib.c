// SPDX-License-Identifier: MIT
/*
 * stdlib.c - malloc over the host's allocator, abort and exit, the strto* family,
 * abs, qsort and bsearch (stdlib.h).
 *
 * Limits: realloc never shrinks a block (it only grows); qsort is a heapsort, so
 * it is not stable; strto* take no "0b" prefix and no locale.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host-ops.h"

/* ---- malloc ---------------------------------------------------------------- */

/*
 * Every block starts with this header: realloc needs the block's size, and free
 * checks magic to catch pointers that malloc never returned (or returned and got
 * back already). host_mem_alloc returns 16-byte aligned memory and the header is
 * 16 bytes, so the caller's part stays 16-byte aligned.
 */
struct block {
	_Alignas(16) size_t size;	/* bytes the caller may use */
	unsigned int magic;
};

_Static_assert(sizeof(struct block) == 16, "the block header must keep 16-byte alignment");

#define BLOCK_LIVE	0x6d616c6cu	/* "mall" */
#define BLOCK_FREED	0x66726565u	/* "free" */

/* The header of ptr, or abort() with a message if ptr is not a live block. */
static struct block *block_of(void *ptr, const char *caller)
{
	struct block *b = (struct block *)ptr - 1;

	if (((uintptr_t)ptr & 15) || b->magic != BLOCK_LIVE) {
		fprintf(stderr, "%s(%p): not a block from malloc, or already freed\n", caller, ptr);
		abort();
	}
	return b;
}

/**
 * malloc() - Allocate memory from the host.
 * @size: bytes wanted; 0 gives a unique block all the same.
 *
 * Like glibc, this refuses a block bigger than PTRDIFF_MAX (header included):
 * subtracting pointers into such an object would overflow ptrdiff_t. On wasm32
 * that also keeps every size passed to host_mem_alloc below 2^31.
 *
 * Return: a 16-byte aligned block, or NULL with errno ENOMEM.
 */
void *malloc(size_t size)
{
	struct block *b;

	if (size > PTRDIFF_MAX - sizeof(*b)) {
		errno = ENOMEM;
		return NULL;
	}
	b = host_mem_alloc(sizeof(*b) + size);
	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	b->size = size;
	b->magic = BLOCK_LIVE;
	return b + 1;
}

/* nmemb * size zeroed bytes; NULL and ENOMEM when the product overflows or memory runs out. */
void *calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	p = malloc(nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

/**
 * realloc() - Resize a block from malloc.
 * @ptr: the block, or NULL to act as malloc(size).
 * @size: the size wanted.
 *
 * A block that is already big enough is returned as it is: nothing shrinks, and
 * realloc(ptr, 0) returns ptr, which the caller must still free. Otherwise the
 * contents move to a new block and ptr is freed.
 *
 * Return: the block, or NULL (errno ENOMEM) with ptr left untouched.
 */
void *realloc(void *ptr, size_t size)
{
	struct block *b;
	void *grown;

	if (!ptr)
		return malloc(size);
	b = block_of(ptr, "realloc");
	if (size <= b->size)
		return ptr;
	grown = malloc(size);
	if (!grown)
		return NULL;
	memcpy(grown, ptr, b->size);
	free(ptr);
	return grown;
}

/* NULL is ignored; anything else that is not a live block aborts. */
void free(void *ptr)
{
	struct block *b;

	if (!ptr)
		return;
	b = block_of(ptr, "free");
	b->magic = BLOCK_FREED;
	host_mem_free(b);
}

/* ---- ending the program ------------------------------------------------------ */

/*
 * Unlike C's abort, this flushes stdio first: the host's panic error carries the
 * console tail, and the output just before an abort is the most useful part of it.
 */
_Noreturn void abort(void)
{
	static const char message[] = "abort()\n";

	fflush(NULL);
	host_print(message, sizeof(message) - 1);
	host_panic();
}

/**
 * exit() - End the program, as far as a fiber host has one.
 * @status: 0 for success.
 *
 * There is no process to end: exit(0) flushes stdio and ends the calling thread
 * only (host_thread_exit); other threads run on. Any other status is a failure
 * the host must hear about, so it prints "exit(status)" and panics the host.
 */
_Noreturn void exit(int status)
{
	char message[24];
	int len;

	fflush(NULL);
	if (status == 0)
		host_thread_exit();
	len = snprintf(message, sizeof(message), "exit(%d)\n", status);
	host_print(message, len);
	host_panic();
}

/* ---- number parsing ------------------------------------------------------------ */

/* The value of c as a digit in bases up to 36, or 36 when it is none. */
static int digit_value(char c)
{
	if (isdigit(c))
		return c - '0';
	if (isalpha(c))
		return tolower(c) - 'a' + 10;
	return 36;
}

/**
 * parse_magnitude() - What every strto* function shares.
 * @nptr: the text: optional white space, an optional sign, then digits.
 * @endptr: if not NULL, gets the first byte after the number, or nptr if there is
 *          no number (or base is invalid).
 * @base: 2..36, or 0 to pick 16 for "0x", 8 for a leading "0" and 10 otherwise;
 *        base 16 also accepts "0x".
 * @negative: set when the text has a minus sign.
 * @overflow: set when the digits exceed ULLONG_MAX.
 *
 * A "0x" with no hex digit after it is the number 0 followed by 'x'. An invalid
 * base sets errno to EINVAL. The callers apply the sign and their own range.
 *
 * Return: the magnitude of the number (ULLONG_MAX on overflow).
 */
static unsigned long long parse_magnitude(const char *nptr, char **endptr, int base,
					  bool *negative, bool *overflow)
{
	const char *s = nptr, *digits;
	unsigned long long value = 0;
	int d;

	*negative = false;
	*overflow = false;
	if (base < 0 || base == 1 || base > 36) {
		errno = EINVAL;
		if (endptr)
			*endptr = (char *)nptr;
		return 0;
	}
	while (isspace(*s))
		s++;
	if (*s == '+' || *s == '-')
		*negative = *s++ == '-';
	if ((base == 0 || base == 16) && s[0] == '0' && tolower(s[1]) == 'x' && isxdigit(s[2])) {
		s += 2;
		base = 16;
	} else if (base == 0) {
		base = s[0] == '0' ? 8 : 10;
	}
	for (digits = s; (d = digit_value(*s)) < base; s++) {
		if (value > (ULLONG_MAX - d) / base)
			*overflow = true;
		else
			value = value * base + d;
	}
	if (endptr)
		*endptr = (char *)(s == digits ? nptr : s);
	return *overflow ? ULLONG_MAX : value;
}

/* The signed result in min..max, or the nearer limit with ERANGE. */
static long long signed_result(unsigned long long magnitude, bool negative, bool overflow,
			       long long min, long long max)
{
	/* In two's complement |min| is max + 1. */
	unsigned long long limit = (unsigned long long)max + negative;

	if (overflow || magnitude > limit) {
		errno = ERANGE;
		return negative ? min : max;
	}
	if (!negative || !magnitude)
		return (long long)magnitude;
	/* Negate without ever holding -min, which does not fit. */
	return -(long long)(magnitude - 1) - 1;
}

/*
 * The unsigned result: max (a power of two minus 1) with ERANGE when the magnitude
 * is beyond it; a minus sign negates in the unsigned type, as C says.
 */
static unsigned long long unsigned_result(unsigned long long magnitude, bool negative,
					  bool overflow, unsigned long long max)
{
	if (overflow || magnitude > max) {
		errno = ERANGE;
		return max;
	}
	return negative ? (0 - magnitude) & max : magnitude;
}

long strtol(const char *restrict nptr, char **restrict endptr, int base)
{
	bool negative, overflow;
	unsigned long long m = parse_magnitude(nptr, endptr, base, &negative, &overflow);

	return signed_result(m, negative, overflow, LONG_MIN, LONG_MAX);
}

long long strtoll(const char *restrict nptr, char **restrict endptr, int base)
{
	bool negative, overflow;
	unsigned long long m = parse_magnitude(nptr, endptr, base, &negative, &overflow);

	return signed_result(m, negative, overflow, LLONG_MIN, LLONG_MAX);
}

unsigned long strtoul(const char *restrict nptr, char **restrict endptr, int base)
{
	bool negative, overflow;
	unsigned long long m = parse_magnitude(nptr, endptr, base, &negative, &overflow);

	return unsigned_result(m, negative, overflow, ULONG_MAX);
}

unsigned long long strtoull(const char *restrict nptr, char **restrict endptr, int base)
{
	bool negative, overflow;
	unsigned long long m = parse_magnitude(nptr, endptr, base, &negative, &overflow);

	return unsigned_result(m, negative, overflow, ULLONG_MAX);
}

/*
 * Out-of-range text gives INT_MIN or INT_MAX (C leaves it undefined): long and int
 * are both 32 bits on wasm32, so strtol's clamping is the right one.
 */
_Static_assert(sizeof(long) == sizeof(int), "atoi relies on long and int being the same size");

int atoi(const char *nptr)
{
	return (int)strtol(nptr, NULL, 10);
}

long atol(const char *nptr)
{
	return strtol(nptr, NULL, 10);
}

/* ---- arithmetic ------------------------------------------------------------------ */

int abs(int j)
{
	return j < 0 ? -j : j;
}

long labs(long j)
{
	return j < 0 ? -j : j;
}

long long llabs(long long j)
{
	return j < 0 ? -j : j;
}

/* ---- sorting and searching --------------------------------------------------------- */

static void swap_elements(char *a, char *b, size_t size)
{
	while (size--) {
		char t = *a;

		*a++ = *b;
		*b++ = t;
	}
}

/*
 * Move the element at root down the heap of count elements until it is no smaller
 * than its children. Only roots below count / 2 have children; checking that first
 * also keeps 2 * root + 1 from overflowing.
 */
static void sift_down(char *base, size_t root, size_t count, size_t size,
		      int (*compar)(const void *, const void *))
{
	while (root < count / 2) {
		size_t child = 2 * root + 1;

		if (child + 1 < count && compar(base + child * size, base + (child + 1) * size) < 0)
			child++;
		if (compar(base + root * size, base + child * size) >= 0)
			return;
		swap_elements(base + root * size, base + child * size, size);
		root = child;
	}
}

/* Heapsort: O(n log n) at worst, no recursion and no memory of its own, not stable. */
void qsort(void *base, size_t nmemb, size_t size, int (*compar)(const void *, const void *))
{
	char *elements = base;
	size_t i;

	for (i = nmemb / 2; i-- > 0;)
		sift_down(elements, i, nmemb, size, compar);
	for (i = nmemb; i-- > 1;) {
		swap_elements(elements, elements + i * size, size);
		sift_down(elements, 0, i, size, compar);
	}
}

void *bsearch(const void *key, const void *base, size_t nmemb, size_t size,
	      int (*compar)(const void *, const void *))
{
	const char *elements = base;
	size_t lo = 0, hi = nmemb;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int order = compar(key, elements + mid * size);

		if (order == 0)
			return (void *)(elements + mid * size);
		if (order < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
