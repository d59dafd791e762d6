// SPDX-License-Identifier: MIT
/*
 * ctype.c - character classes of the "C" locale: ASCII only, by range tests
 * rather than a table. EOF and values outside 0..127 belong to no class.
 */
#include <ctype.h>

int isdigit(int c)
{
	return c >= '0' && c <= '9';
}

int isupper(int c)
{
	return c >= 'A' && c <= 'Z';
}

int islower(int c)
{
	return c >= 'a' && c <= 'z';
}

int isalpha(int c)
{
	return isupper(c) || islower(c);
}

int isalnum(int c)
{
	return isalpha(c) || isdigit(c);
}

/* ' ', '\t', '\n', '\v', '\f', '\r' */
int isspace(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

int isxdigit(int c)
{
	return isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ' ' through '~': everything but the control characters 0..31 and 127. */
int isprint(int c)
{
	return c >= ' ' && c <= '~';
}

/* Printable, not a space, not alphanumeric. */
int ispunct(int c)
{
	return isprint(c) && c != ' ' && !isalnum(c);
}

int toupper(int c)
{
	return islower(c) ? c - 'a' + 'A' : c;
}

int tolower(int c)
{
	return isupper(c) ? c - 'A' + 'a' : c;
}
