/* SPDX-License-Identifier: MIT */
/*
 * ctype.h - character classes of the "C" locale (ASCII). Any argument outside
 * 0..127, EOF included, belongs to no class and is returned unchanged by
 * toupper/tolower.
 */
#ifndef NOLIBC_CTYPE_H
#define NOLIBC_CTYPE_H

int isdigit(int c);
int isalpha(int c);
int isalnum(int c);
int isspace(int c);
int isupper(int c);
int islower(int c);
int isxdigit(int c);
int isprint(int c);
int ispunct(int c);
int toupper(int c);
int tolower(int c);

#endif /* NOLIBC_CTYPE_H */
