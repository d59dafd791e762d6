// SPDX-License-Identifier: MIT
/*
 * host-entry.c - the one C function the host starts threads with (see host-ops.h),
 * and the runtime of setjmp/longjmp that clang's -wasm-enable-sjlj lowering calls.
 *
 * host_entry calls through the function table, so fn must have exactly the type
 * void (*)(void *): wasm's call_indirect traps on any other signature.
 *
 * The jump runtime: a function that calls setjmp gets a fresh invocation id (the
 * address of a slot in its frame) each time it runs; setjmp records that id and
 * the call site's label in the jmp_buf. longjmp throws the C longjmp tag with the
 * jmp_buf and value; each catching frame asks __wasm_setjmp_test whether the
 * jmp_buf is its own (same invocation) and which label to resume at, or throws
 * on. This file is compiled with the same flags, which also define the tag.
 */
#include "host-ops.h"

void host_entry(void (*fn)(void *), void *arg)
{
	fn(arg);
}

void __wasm_setjmp(struct host_jmp_buf *jb, unsigned int label, void *invocation);
unsigned int __wasm_setjmp_test(struct host_jmp_buf *jb, void *invocation);
void __wasm_longjmp(struct host_jmp_buf *jb, int val) __attribute__((noreturn));

void __wasm_setjmp(struct host_jmp_buf *jb, unsigned int label, void *invocation)
{
	jb->invocation = invocation;
	jb->label = label;
}

/* The label to go on at when jb was set by this invocation of the caller, else 0. */
unsigned int __wasm_setjmp_test(struct host_jmp_buf *jb, void *invocation)
{
	return jb->invocation == invocation ? jb->label : 0;
}

void __wasm_longjmp(struct host_jmp_buf *jb, int val)
{
	jb->thrown_env = jb;
	jb->thrown_val = val ? val : 1;
	/* Tag 1 is the C longjmp tag; the catching frame reads {env, val} from the pointer. */
	__builtin_wasm_throw(1, &jb->thrown_env);
}
