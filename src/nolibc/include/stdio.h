/* SPDX-License-Identifier: MIT */
/*
 * stdio.h - formatted output to the host console, for nolibc.
 *
 * There are three streams and no files. stdout and stderr each keep a BUFSIZ-byte
 * line buffer that goes to the console (through write(), so host_print) at each
 * '\n', when it fills, and on fflush; a line longer than the buffer arrives in
 * several pieces, in order. The two buffers are independent, so an unfinished
 * stdout line may appear after a later stderr line. stdin has no input: reading
 * gives EOF, writing fails with EBADF. The buffers are shared by all threads, and
 * the preemption instrumentation may switch threads inside printf's loops, so
 * lines printed by threads running at once may interleave.
 *
 * The printf family knows %d %i %u %o %x %X %c %s %p %%, the flags - 0 + space #,
 * width and precision (also as *), and the length modifiers hh h l ll z j t.
 * Where this differs from a hosted C library:
 *  - No floating point: %f %F %e %E %g %G %a %A consume their double (long double
 *    with L) and print "?" in its place, padded to the field width.
 *  - %s of NULL prints "(null)"; %p prints "0x" and lowercase hex, "0x0" for NULL.
 *  - %n, wide characters (%lc, %ls) and positional arguments (%1$d) are not
 *    supported; an unknown conversion is printed as written and consumes nothing.
 *  - A result longer than INT_MAX fails with EOVERFLOW (the output so far stays).
 */
#ifndef NOLIBC_STDIO_H
#define NOLIBC_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#define EOF	(-1)
/* The size of each stream's line buffer. */
#define BUFSIZ	256

typedef struct nolibc_file FILE;

extern FILE *const stdin;
extern FILE *const stdout;
extern FILE *const stderr;

int fputc(int c, FILE *stream);
int putc(int c, FILE *stream);
int putchar(int c);
int fputs(const char *restrict s, FILE *restrict stream);
int puts(const char *s);
int fflush(FILE *stream);

int fgetc(FILE *stream);
int getc(FILE *stream);
int getchar(void);
char *fgets(char *restrict s, int size, FILE *restrict stream);

int printf(const char *restrict format, ...) __attribute__((format(printf, 1, 2)));
int fprintf(FILE *restrict stream, const char *restrict format, ...)
	__attribute__((format(printf, 2, 3)));
int sprintf(char *restrict str, const char *restrict format, ...)
	__attribute__((format(printf, 2, 3)));
int snprintf(char *restrict str, size_t size, const char *restrict format, ...)
	__attribute__((format(printf, 3, 4)));
int vprintf(const char *restrict format, va_list ap) __attribute__((format(printf, 1, 0)));
int vfprintf(FILE *restrict stream, const char *restrict format, va_list ap)
	__attribute__((format(printf, 2, 0)));
int vsprintf(char *restrict str, const char *restrict format, va_list ap)
	__attribute__((format(printf, 2, 0)));
int vsnprintf(char *restrict str, size_t size, const char *restrict format, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif /* NOLIBC_STDIO_H */
