/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/delay.h - delays wait on the host clock and yield to the host while
 * they wait (kernel/time.c), so a delay never spins a fiber forever.
 * loops_per_jiffy is meaningless here: calibrate_delay is skipped.
 */
#ifndef _ASM_WASM_DELAY_H
#define _ASM_WASM_DELAY_H

void wasm_ndelay(unsigned long nsecs);

static inline void __delay(unsigned long loops)
{
	wasm_ndelay(loops);
}

#define ndelay(n)	wasm_ndelay(n)
#define udelay(n)	wasm_ndelay((unsigned long)(n) * 1000UL)

#endif
