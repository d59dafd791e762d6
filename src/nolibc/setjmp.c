// SPDX-License-Identifier: MIT
/*
 * setjmp.c - longjmp(); setjmp is a macro in setjmp.h because it must run in the
 * caller's own frame. Both are the host's jump points (host-ops.h).
 */
#include <setjmp.h>

/* Returns to where env was set, making that setjmp return val (1 if val is 0). */
_Noreturn void longjmp(jmp_buf env, int val)
{
	host_longjmp(env, val);
}
