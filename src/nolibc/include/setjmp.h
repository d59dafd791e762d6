/* SPDX-License-Identifier: MIT */
/*
 * setjmp.h - non-local jumps: setjmp and longjmp are declared in host-ops.h, where
 * they are the jump points every module here shares (wasm exception handling, no
 * host op). No sigsetjmp: there are no signals.
 */
#ifndef NOLIBC_SETJMP_H
#define NOLIBC_SETJMP_H

#include "host-ops.h"

typedef struct host_jmp_buf jmp_buf[1];

#endif /* NOLIBC_SETJMP_H */
