/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/irqflags.h - "interrupts" are host timer firings and device events
 * raised by lkl_trigger_irq while another thread holds the CPU. They are
 * queued as pending; turning interrupts back on runs them (kernel/irq.c).
 */
#ifndef _ASM_WASM_IRQFLAGS_H
#define _ASM_WASM_IRQFLAGS_H

#define ARCH_IRQ_DISABLED	0
#define ARCH_IRQ_ENABLED	1

#ifndef __ASSEMBLY__

extern unsigned long wasm_irq_flags;
void wasm_irq_enable(void);

static inline unsigned long arch_local_save_flags(void)
{
	return wasm_irq_flags;
}

static inline void arch_local_irq_restore(unsigned long flags)
{
	if (flags == ARCH_IRQ_ENABLED)
		wasm_irq_enable();
	else
		wasm_irq_flags = flags;
}

#include <asm-generic/irqflags.h>

#endif /* __ASSEMBLY__ */

#endif
