// SPDX-License-Identifier: MIT
/*
 * assert.c - what a failed assert() calls (see assert.h).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

/* Reports on stderr, in the usual "file:line: function: Assertion `expr' failed." form, then aborts. */
_Noreturn void __assert_fail(const char *expr, const char *file, int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s: Assertion `%s' failed.\n", file, line, func, expr);
	abort();
}
