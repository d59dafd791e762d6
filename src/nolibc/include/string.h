/* SPDX-License-Identifier: MIT */
/*
 * string.h - memory and string functions of nolibc.
 *
 * Byte strings only: no locale (strcoll, strxfrm), no wide characters, and no strtok
 * (use strtok_r). strerror knows the common errno values and says "Unknown error"
 * for the rest. The compiler may call memcpy, memmove, memset and memcmp by itself;
 * these are the ones it gets.
 */
#ifndef NOLIBC_STRING_H
#define NOLIBC_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);

size_t strlen(const char *s);
size_t strnlen(const char *s, size_t maxlen);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strcpy(char *restrict dst, const char *restrict src);
char *strncpy(char *restrict dst, const char *restrict src, size_t n);
char *strcat(char *restrict dst, const char *restrict src);
char *strncat(char *restrict dst, const char *restrict src, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
size_t strspn(const char *s, const char *accept);
size_t strcspn(const char *s, const char *reject);
char *strdup(const char *s);
char *strndup(const char *s, size_t n);
char *strtok_r(char *restrict str, const char *restrict delim, char **restrict saveptr);
char *strerror(int errnum);

#endif /* NOLIBC_STRING_H */
