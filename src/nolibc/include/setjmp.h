/* SPDX-License-Identifier: MIT */
/*
 * setjmp.h - non-local jumps over the host's jump points (host_setjmp/host_longjmp
 * in host-ops.h). setjmp suspends the calling fiber (the host snapshots it), so a
 * module that uses them must be asyncified. A jmp_buf belongs to the thread that set it: longjmp from another
 * thread is misuse the host reports. No sigsetjmp: there are no signals.
 */
#ifndef NOLIBC_SETJMP_H
#define NOLIBC_SETJMP_H

#include "host-ops.h"

typedef struct host_jmp_buf jmp_buf[1];

/*
 * A macro, not a function: setjmp must run in the frame that a later longjmp
 * returns to, and a wrapper's frame would be gone by then.
 */
#define setjmp(env) host_setjmp(env)

_Noreturn void longjmp(jmp_buf env, int val);

#endif /* NOLIBC_SETJMP_H */
