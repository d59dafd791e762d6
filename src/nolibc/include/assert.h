/* SPDX-License-Identifier: MIT */
/*
 * assert.h - assert(expr): when expr is false, print "file:line: function: Assertion
 * `expr' failed." on stderr and abort(). With NDEBUG defined at the point of
 * inclusion, assert does nothing and does not evaluate expr. Like the standard
 * header, this one has no include guard: each inclusion redefines assert.
 */
#undef assert

#ifdef NDEBUG
#define assert(expr) ((void)0)
#else
#define assert(expr) ((expr) ? (void)0 : __assert_fail(#expr, __FILE__, __LINE__, __func__))
#endif

#if defined(__STDC_VERSION__) && __STDC_VERSION__ < 202311L && !defined(static_assert)
#define static_assert _Static_assert
#endif

/* Repeating this declaration at each inclusion is harmless. */
_Noreturn void __assert_fail(const char *expr, const char *file, int line, const char *func);
