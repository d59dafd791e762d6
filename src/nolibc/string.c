// SPDX-License-Identifier: MIT
/*
 * string.c - memory and string functions (string.h), except strerror (errno.c).
 *
 * memcpy, memmove and memset are single bulk-memory instructions (memory.copy,
 * memory.fill), which is what makes it safe for the compiler to call them: with
 * -mbulk-memory the __builtin_ forms below lower to those instructions, never back
 * to a call. Everything else is a plain byte loop: short and obviously right rather
 * than fast.
 */
#include <stdlib.h>
#include <string.h>

#ifndef __wasm_bulk_memory__
#error "nolibc needs -mbulk-memory: without it memcpy and memset would call themselves"
#endif

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	return __builtin_memcpy(dst, src, n);
}

/* memory.copy is defined to work on overlapping ranges in either direction. */
void *memmove(void *dst, const void *src, size_t n)
{
	return __builtin_memmove(dst, src, n);
}

void *memset(void *dst, int c, size_t n)
{
	return __builtin_memset(dst, c, n);
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

void *memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (; n; n--, p++)
		if (*p == (unsigned char)c)
			return (void *)p;
	return NULL;
}

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return p - s;
}

size_t strnlen(const char *s, size_t maxlen)
{
	size_t n = 0;

	while (n < maxlen && s[n])
		n++;
	return n;
}

/* Characters compare as unsigned char, as C requires. */
int strcmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;

	while (*p && *p == *q)
		p++, q++;
	return *p - *q;
}

int strncmp(const char *a, const char *b, size_t n)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;

	for (; n; n--, p++, q++)
		if (*p != *q || !*p)
			return *p - *q;
	return 0;
}

char *strcpy(char *restrict dst, const char *restrict src)
{
	return memcpy(dst, src, strlen(src) + 1);
}

/* Copies at most n bytes and pads with NULs to n; dst is unterminated if src is that long. */
char *strncpy(char *restrict dst, const char *restrict src, size_t n)
{
	size_t len = strnlen(src, n);

	memcpy(dst, src, len);
	memset(dst + len, 0, n - len);
	return dst;
}

char *strcat(char *restrict dst, const char *restrict src)
{
	strcpy(dst + strlen(dst), src);
	return dst;
}

/* Appends at most n bytes of src and always a NUL: dst needs strlen(dst) + n + 1 bytes. */
char *strncat(char *restrict dst, const char *restrict src, size_t n)
{
	char *end = dst + strlen(dst);
	size_t len = strnlen(src, n);

	memcpy(end, src, len);
	end[len] = '\0';
	return dst;
}

/* The terminating NUL is part of the string: strchr(s, '\0') finds it. */
char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *strrchr(const char *s, int c)
{
	const char *found = NULL;

	for (;; s++) {
		if (*s == (char)c)
			found = s;
		if (!*s)
			return (char *)found;
	}
}

char *strstr(const char *haystack, const char *needle)
{
	size_t len = strlen(needle);

	for (; *haystack; haystack++)
		if (!strncmp(haystack, needle, len))
			return (char *)haystack;
	return *needle ? NULL : (char *)haystack;
}

size_t strspn(const char *s, const char *accept)
{
	size_t n = 0;

	while (s[n] && strchr(accept, s[n]))
		n++;
	return n;
}

size_t strcspn(const char *s, const char *reject)
{
	size_t n = 0;

	while (s[n] && !strchr(reject, s[n]))
		n++;
	return n;
}

/* NULL (errno ENOMEM) when malloc fails; the copy belongs to the caller. */
char *strdup(const char *s)
{
	return strndup(s, (size_t)-1);
}

/* Copies at most n bytes of s and a NUL into a new block; NULL (errno ENOMEM) when out of memory. */
char *strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *copy = malloc(len + 1);

	if (copy) {
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	return copy;
}

/**
 * strtok_r() - Split a string into tokens, in place.
 * @str: the string to split on the first call, NULL on the calls after it.
 * @delim: the set of delimiter bytes; it may change from call to call.
 * @saveptr: where the position between calls is kept; the caller owns it.
 *
 * Skips leading delimiters, then overwrites the delimiter that ends the token with
 * a NUL. Empty tokens are never returned: "a,,b" gives "a" and "b".
 *
 * Return: the next token, or NULL when none is left.
 */
char *strtok_r(char *restrict str, const char *restrict delim, char **restrict saveptr)
{
	char *token = str ? str : *saveptr;
	char *end;

	token += strspn(token, delim);
	if (!*token) {
		*saveptr = token;
		return NULL;
	}
	end = token + strcspn(token, delim);
	if (*end)
		*end++ = '\0';
	*saveptr = end;
	return token;
}
