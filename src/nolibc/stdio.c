// SPDX-License-Identifier: MIT
/*
 * stdio.c - the three streams, their line buffers and the printf family
 * (stdio.h lists what the formatter knows and where it differs from C).
 *
 * The streams are plain globals shared by every thread. Like errno, that is safe
 * only because nothing here can suspend: host_print returns without switching
 * fibers, so one call's output is never interleaved with another's mid-buffer.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct nolibc_file {
	int fd;			/* STDIN_FILENO, STDOUT_FILENO or STDERR_FILENO */
	size_t len;		/* bytes waiting in buf */
	char buf[BUFSIZ];
};

static FILE streams[] = {
	{ .fd = STDIN_FILENO },
	{ .fd = STDOUT_FILENO },
	{ .fd = STDERR_FILENO },
};

FILE *const stdin = &streams[STDIN_FILENO];
FILE *const stdout = &streams[STDOUT_FILENO];
FILE *const stderr = &streams[STDERR_FILENO];

/* ---- stream output ------------------------------------------------------------- */

static void flush_stream(FILE *stream)
{
	if (stream->len)
		write(stream->fd, stream->buf, stream->len);
	stream->len = 0;
}

/* 0, or EOF when stream is stdin. fflush(NULL) flushes stdout and stderr. */
int fflush(FILE *stream)
{
	if (!stream) {
		flush_stream(stdout);
		flush_stream(stderr);
		return 0;
	}
	if (stream == stdin) {
		errno = EBADF;
		return EOF;
	}
	flush_stream(stream);
	return 0;
}

/* Buffers (unsigned char)c and flushes at '\n' or a full buffer. EOF (EBADF) on stdin. */
int fputc(int c, FILE *stream)
{
	if (stream == stdin) {
		errno = EBADF;
		return EOF;
	}
	stream->buf[stream->len++] = (char)c;
	if (stream->len == sizeof(stream->buf) || (char)c == '\n')
		flush_stream(stream);
	return (unsigned char)c;
}

int putc(int c, FILE *stream)
{
	return fputc(c, stream);
}

int putchar(int c)
{
	return fputc(c, stdout);
}

/* 0, or EOF when stream is stdin. */
int fputs(const char *restrict s, FILE *restrict stream)
{
	for (; *s; s++)
		if (fputc(*s, stream) == EOF)
			return EOF;
	return 0;
}

/* s and a newline on stdout; non-negative. */
int puts(const char *s)
{
	fputs(s, stdout);
	return putchar('\n');
}

/* ---- stream input: there is none ------------------------------------------------------ */

int fgetc(FILE *stream)
{
	(void)stream;
	return EOF;
}

int getc(FILE *stream)
{
	return fgetc(stream);
}

int getchar(void)
{
	return fgetc(stdin);
}

char *fgets(char *restrict s, int size, FILE *restrict stream)
{
	(void)s;
	(void)size;
	(void)stream;
	return NULL;
}

/* ---- the formatter --------------------------------------------------------------------- */

/*
 * Where formatted output goes: a stream, or else a string buffer with room for
 * room bytes (the caller keeps one more for the NUL). count keeps going past room,
 * because snprintf returns the length the output would have had.
 */
struct sink {
	FILE *stream;
	char *buf;
	size_t room;
	size_t count;
};

static void emit(struct sink *out, char c)
{
	if (out->stream)
		fputc(c, out->stream);
	else if (out->count < out->room)
		out->buf[out->count] = c;
	out->count++;
}

static void emit_bytes(struct sink *out, const char *s, size_t n)
{
	while (n--)
		emit(out, *s++);
}

static void emit_repeated(struct sink *out, char c, size_t n)
{
	while (n--)
		emit(out, c);
}

enum {
	FLAG_LEFT = 1 << 0,	/* '-' */
	FLAG_ZERO = 1 << 1,	/* '0' */
	FLAG_PLUS = 1 << 2,	/* '+' */
	FLAG_SPACE = 1 << 3,	/* ' ' */
	FLAG_ALT = 1 << 4,	/* '#' */
};

enum length { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_J, LEN_T, LEN_BIG_L };

/* One conversion specification, as parsed from "%[flags][width][.precision][length]conv". */
struct spec {
	unsigned int flags;
	size_t width;		/* 0 when none */
	int precision;		/* negative when none */
	enum length length;
	char conv;
};

/*
 * Emit one field: prefix (sign or "0x"), zeros, then body, padded with spaces to
 * the field width on the left, or on the right with '-'. Zero padding to the width
 * is the caller's business, since only numbers get it.
 */
static void emit_field(struct sink *out, const struct spec *spec, const char *prefix,
		       size_t zeros, const char *body, size_t body_len)
{
	size_t prefix_len = strlen(prefix);
	size_t len = prefix_len + zeros + body_len;
	size_t pad = spec->width > len ? spec->width - len : 0;

	if (!(spec->flags & FLAG_LEFT))
		emit_repeated(out, ' ', pad);
	emit_bytes(out, prefix, prefix_len);
	emit_repeated(out, '0', zeros);
	emit_bytes(out, body, body_len);
	if (spec->flags & FLAG_LEFT)
		emit_repeated(out, ' ', pad);
}

/* %d %i (is_signed set) and %u %o %x %X %p, given the magnitude and sign of the value. */
static void format_integer(struct sink *out, const struct spec *spec,
			   unsigned long long magnitude, bool negative, bool is_signed)
{
	const char *set = spec->conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	unsigned int base = spec->conv == 'o' ? 8 : is_signed || spec->conv == 'u' ? 10 : 16;
	char digits[22];	/* 64 bits in octal */
	char *end = digits + sizeof(digits), *p = end;
	const char *prefix = "";
	size_t ndigits, zeros, len;

	for (; magnitude; magnitude /= base)
		*--p = set[magnitude % base];
	ndigits = end - p;
	/* The default precision is 1, so that 0 prints as "0"; precision 0 prints 0 as nothing. */
	if (spec->precision < 0)
		zeros = ndigits ? 0 : 1;
	else
		zeros = (size_t)spec->precision > ndigits ? spec->precision - ndigits : 0;

	if (is_signed) {
		if (negative)
			prefix = "-";
		else if (spec->flags & FLAG_PLUS)
			prefix = "+";
		else if (spec->flags & FLAG_SPACE)
			prefix = " ";
	} else if (spec->conv == 'p') {
		prefix = "0x";
	} else if (spec->flags & FLAG_ALT) {
		/*
		 * '#': octal starts with a 0 digit (digits never start with one, so a
		 * zero is needed unless the precision already gave one); hex gets 0x
		 * unless the value is 0.
		 */
		if (spec->conv == 'o' && !zeros)
			zeros = 1;
		else if ((spec->conv == 'x' || spec->conv == 'X') && ndigits)
			prefix = spec->conv == 'X' ? "0X" : "0x";
	}

	/* '0' pads with zeros after the prefix, unless '-' or a precision says otherwise. */
	len = strlen(prefix) + zeros + ndigits;
	if ((spec->flags & (FLAG_ZERO | FLAG_LEFT)) == FLAG_ZERO && spec->precision < 0 &&
	    spec->width > len)
		zeros += spec->width - len;

	emit_field(out, spec, prefix, zeros, p, ndigits);
}

/* A signed argument of the size the length modifier names, widened. */
static long long signed_arg(enum length length, va_list *ap)
{
	switch (length) {
	case LEN_HH:
		return (signed char)va_arg(*ap, int);
	case LEN_H:
		return (short)va_arg(*ap, int);
	case LEN_L:
		return va_arg(*ap, long);
	case LEN_LL:
		return va_arg(*ap, long long);
	case LEN_Z:
		/* The signed type of size_t's width: long on wasm32, like ssize_t. */
		return va_arg(*ap, ssize_t);
	case LEN_J:
		return va_arg(*ap, intmax_t);
	case LEN_T:
		return va_arg(*ap, ptrdiff_t);
	default:
		return va_arg(*ap, int);
	}
}

/* An unsigned argument of the size the length modifier names, widened. */
static unsigned long long unsigned_arg(enum length length, va_list *ap)
{
	switch (length) {
	case LEN_HH:
		return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_H:
		return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_L:
		return va_arg(*ap, unsigned long);
	case LEN_LL:
		return va_arg(*ap, unsigned long long);
	case LEN_Z:
		return va_arg(*ap, size_t);
	case LEN_J:
		return va_arg(*ap, uintmax_t);
	case LEN_T:
		/* The unsigned type of ptrdiff_t's width. */
		return (size_t)va_arg(*ap, ptrdiff_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

/* Read a decimal number at *fmt, saturating at INT_MAX, and step past it. */
static int parse_count(const char **fmt)
{
	int n = 0;

	for (; **fmt >= '0' && **fmt <= '9'; (*fmt)++) {
		int d = **fmt - '0';

		n = n > (INT_MAX - d) / 10 ? INT_MAX : n * 10 + d;
	}
	return n;
}

/* The flag characters, in the bit order of FLAG_*. */
static const char flag_chars[] = "-0+ #";

/*
 * Parse the flags, width, precision and length after a '%', taking any '*'
 * arguments from ap. *fmt ends on the conversion character (or the format's NUL).
 */
static void parse_spec(const char **fmt, struct spec *spec, va_list *ap)
{
	const char *flag;
	int width;

	spec->flags = 0;
	while (**fmt && (flag = strchr(flag_chars, **fmt))) {
		spec->flags |= 1u << (flag - flag_chars);
		(*fmt)++;
	}

	if (**fmt == '*') {
		/* A negative width from the argument list is the '-' flag and its absolute value. */
		width = va_arg(*ap, int);
		(*fmt)++;
		if (width < 0) {
			spec->flags |= FLAG_LEFT;
			spec->width = -(long long)width;
		} else {
			spec->width = width;
		}
	} else {
		spec->width = parse_count(fmt);
	}

	spec->precision = -1;
	if (**fmt == '.') {
		(*fmt)++;
		if (**fmt == '*') {
			/* A negative precision from the argument list means none, as -1 does. */
			spec->precision = va_arg(*ap, int);
			(*fmt)++;
		} else {
			spec->precision = parse_count(fmt);
		}
	}

	switch (**fmt) {
	case 'h':
		spec->length = (*fmt)[1] == 'h' ? LEN_HH : LEN_H;
		break;
	case 'l':
		spec->length = (*fmt)[1] == 'l' ? LEN_LL : LEN_L;
		break;
	case 'z':
		spec->length = LEN_Z;
		break;
	case 'j':
		spec->length = LEN_J;
		break;
	case 't':
		spec->length = LEN_T;
		break;
	case 'L':
		spec->length = LEN_BIG_L;
		break;
	default:
		spec->length = LEN_NONE;
		break;
	}
	if (spec->length == LEN_HH || spec->length == LEN_LL)
		*fmt += 2;
	else if (spec->length != LEN_NONE)
		*fmt += 1;
	spec->conv = **fmt;
}

/*
 * Format one conversion, taking its argument from ap. directive and directive_len
 * are its text as written, from the '%' to the conversion character.
 */
static void format_one(struct sink *out, const struct spec *spec, const char *directive,
		       size_t directive_len, va_list *ap)
{
	unsigned long long magnitude;
	long long value;
	const char *s;
	char c;

	switch (spec->conv) {
	case 'd':
	case 'i':
		value = signed_arg(spec->length, ap);
		/* 0 - (unsigned)value is the magnitude even for LLONG_MIN. */
		magnitude = (unsigned long long)value;
		format_integer(out, spec, value < 0 ? 0 - magnitude : magnitude, value < 0, true);
		break;
	case 'u':
	case 'o':
	case 'x':
	case 'X':
		format_integer(out, spec, unsigned_arg(spec->length, ap), false, false);
		break;
	case 'p':
		format_integer(out, spec, (uintptr_t)va_arg(*ap, void *), false, false);
		break;
	case 'c':
		c = (char)va_arg(*ap, int);
		emit_field(out, spec, "", 0, &c, 1);
		break;
	case 's':
		s = va_arg(*ap, const char *);
		if (!s)
			s = "(null)";
		emit_field(out, spec, "", 0, s,
			   spec->precision < 0 ? strlen(s) : strnlen(s, spec->precision));
		break;
	case '%':
		emit(out, '%');
		break;
	case 'f':
	case 'F':
	case 'e':
	case 'E':
	case 'g':
	case 'G':
	case 'a':
	case 'A':
		/* No floating point: take the argument so the ones after it line up. */
		if (spec->length == LEN_BIG_L)
			(void)va_arg(*ap, long double);
		else
			(void)va_arg(*ap, double);
		emit_field(out, spec, "", 0, "?", 1);
		break;
	default:
		/* Unknown, or the format ended after '%': show the directive as written. */
		emit_bytes(out, directive, directive_len);
		break;
	}
}

/**
 * vformat() - The printf engine behind every function of the family.
 * @out: where the output goes.
 * @fmt: the format (see stdio.h for what it may contain).
 * @args: the arguments.
 *
 * Return: the number of bytes produced (stored or not), or -1 with errno
 * EOVERFLOW when that exceeds INT_MAX.
 */
static int vformat(struct sink *out, const char *fmt, va_list args)
{
	struct spec spec;
	const char *directive;
	va_list ap;

	/* A copy, so that helpers can take it by pointer (va_list may be an array type). */
	va_copy(ap, args);
	while (*fmt) {
		if (*fmt != '%') {
			emit(out, *fmt++);
			continue;
		}
		directive = fmt++;
		parse_spec(&fmt, &spec, &ap);
		/* fmt is on the conversion character, or on the NUL of a format cut short. */
		if (*fmt)
			fmt++;
		format_one(out, &spec, directive, fmt - directive, &ap);
	}
	va_end(ap);
	if (out->count > INT_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	return (int)out->count;
}

/**
 * vsnprintf() - Format into a string of a given size.
 * @str: the buffer; may be NULL when size is 0.
 * @size: its size: at most size - 1 bytes are stored, then a NUL (if size > 0).
 * @format: the format.
 * @ap: the arguments.
 *
 * Return: the length the whole output has, even if that did not fit, as C99 says;
 * -1 (EOVERFLOW) if that exceeds INT_MAX.
 */
int vsnprintf(char *restrict str, size_t size, const char *restrict format, va_list ap)
{
	struct sink out = { .buf = str, .room = size ? size - 1 : 0 };
	int ret = vformat(&out, format, ap);

	if (size)
		str[out.count < out.room ? out.count : out.room] = '\0';
	return ret;
}

int vsprintf(char *restrict str, const char *restrict format, va_list ap)
{
	return vsnprintf(str, SIZE_MAX, format, ap);
}

/* The number of bytes written, or -1: EBADF on stdin, EOVERFLOW past INT_MAX. */
int vfprintf(FILE *restrict stream, const char *restrict format, va_list ap)
{
	struct sink out = { .stream = stream };

	if (stream == stdin) {
		errno = EBADF;
		return -1;
	}
	return vformat(&out, format, ap);
}

int vprintf(const char *restrict format, va_list ap)
{
	return vfprintf(stdout, format, ap);
}

int snprintf(char *restrict str, size_t size, const char *restrict format, ...)
{
	va_list ap;
	int ret;

	va_start(ap, format);
	ret = vsnprintf(str, size, format, ap);
	va_end(ap);
	return ret;
}

int sprintf(char *restrict str, const char *restrict format, ...)
{
	va_list ap;
	int ret;

	va_start(ap, format);
	ret = vsnprintf(str, SIZE_MAX, format, ap);
	va_end(ap);
	return ret;
}

int fprintf(FILE *restrict stream, const char *restrict format, ...)
{
	va_list ap;
	int ret;

	va_start(ap, format);
	ret = vfprintf(stream, format, ap);
	va_end(ap);
	return ret;
}

int printf(const char *restrict format, ...)
{
	va_list ap;
	int ret;

	va_start(ap, format);
	ret = vfprintf(stdout, format, ap);
	va_end(ap);
	return ret;
}
