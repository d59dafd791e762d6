/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/syscall_wrapper.h - every syscall entry point has ONE wasm signature,
 * long sys_NAME(const long *args), because the table is called with
 * call_indirect, which traps when the callee's signature differs.
 *
 * args holds the arguments in order, one long per slot; a 64-bit argument
 * (loff_t, u64) takes two consecutive slots, low word first, with no
 * alignment padding - the layout of a packed struct whose members are the
 * arguments' "long" types (__SC_LONG), which is how the wrapper reads them.
 *
 * Syscalls the config leaves out get weak stubs (COND_SYSCALL) that return
 * -ENOSYS with the same signature; an entry of the generic table that is
 * never defined (sys_ni_syscall) is filled by kernel/syscall_table.c.
 */
#ifndef _ASM_WASM_SYSCALL_WRAPPER_H
#define _ASM_WASM_SYSCALL_WRAPPER_H

#include <linux/errno.h>

/* One struct member per argument, with no separator (__MAP puts commas). */
#define __WASM_FIELD(t, a)	__SC_LONG(t, a);
#define __WASM_FIELDS1(m, t, a)		m(t, a)
#define __WASM_FIELDS2(m, t, a, ...)	m(t, a) __WASM_FIELDS1(m, __VA_ARGS__)
#define __WASM_FIELDS3(m, t, a, ...)	m(t, a) __WASM_FIELDS2(m, __VA_ARGS__)
#define __WASM_FIELDS4(m, t, a, ...)	m(t, a) __WASM_FIELDS3(m, __VA_ARGS__)
#define __WASM_FIELDS5(m, t, a, ...)	m(t, a) __WASM_FIELDS4(m, __VA_ARGS__)
#define __WASM_FIELDS6(m, t, a, ...)	m(t, a) __WASM_FIELDS5(m, __VA_ARGS__)
#define __WASM_FIELDS(n, ...)		__WASM_FIELDS##n(__WASM_FIELD, __VA_ARGS__)
#define __WASM_ARG(t, a)		__args->a

#define __SYSCALL_DEFINEx(x, name, ...)						\
	long sys##name(const long *__raw_args);					\
	ALLOW_ERROR_INJECTION(sys##name, ERRNO);				\
	static long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__));		\
	static inline long __do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__));	\
	long sys##name(const long *__raw_args)					\
	{									\
		const struct __packed {						\
			__WASM_FIELDS(x, __VA_ARGS__)				\
		} *__args = (const void *)__raw_args;				\
		return __se_sys##name(__MAP(x, __WASM_ARG, __VA_ARGS__));	\
	}									\
	static long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__))		\
	{									\
		long ret = __do_sys##name(__MAP(x, __SC_CAST, __VA_ARGS__));	\
		__MAP(x, __SC_TEST, __VA_ARGS__);				\
		__PROTECT(x, ret, __MAP(x, __SC_ARGS, __VA_ARGS__));		\
		return ret;							\
	}									\
	static inline long __do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__))

#define SYSCALL_DEFINE0(sname)							\
	SYSCALL_METADATA(_##sname, 0);						\
	long sys_##sname(const long *__unused);					\
	ALLOW_ERROR_INJECTION(sys_##sname, ERRNO);				\
	static inline long __do_sys_##sname(void);				\
	long sys_##sname(const long *__unused)					\
	{									\
		return __do_sys_##sname();					\
	}									\
	static inline long __do_sys_##sname(void)

#define COND_SYSCALL(name)							\
	long __weak sys_##name(const long *__unused);				\
	long __weak sys_##name(const long *__unused)				\
	{									\
		return -ENOSYS;							\
	}

#define SYS_NI(name)	COND_SYSCALL(name)

/* There is no compat ABI. */
#define COND_SYSCALL_COMPAT(name)

/* The uniform type of a table entry. */
typedef long (*wasm_syscall_t)(const long *args);

#endif
