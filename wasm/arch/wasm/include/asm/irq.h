/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/irq.h - IRQ lines the host raises with lkl_trigger_irq. Line 0 is
 * never used (0 means "no IRQ" to much generic code); the timer takes the
 * first line handed out by wasm_get_free_irq.
 */
#ifndef _ASM_WASM_IRQ_H
#define _ASM_WASM_IRQ_H

#define NR_IRQS		CONFIG_WASM_NR_IRQS

#ifndef __ASSEMBLY__
int wasm_get_free_irq(const char *user);
void wasm_put_irq(int irq, const char *user);
void wasm_run_irqs(void);
#endif

#include <asm-generic/irq.h>

#endif
