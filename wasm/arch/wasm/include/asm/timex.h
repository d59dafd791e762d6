/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/timex.h - no cycle counter (get_cycles() stays 0), but the random
 * driver's timing source reads the host clock (kernel/random.c) from the
 * first instruction, not only once the clocksource is registered.
 */
#ifndef _ASM_WASM_TIMEX_H
#define _ASM_WASM_TIMEX_H

#include <asm-generic/timex.h>

unsigned long wasm_random_get_entropy(void);
#define random_get_entropy()	wasm_random_get_entropy()

#endif
