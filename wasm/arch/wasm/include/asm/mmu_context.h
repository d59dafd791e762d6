/* SPDX-License-Identifier: GPL-2.0-only */
/* asm/mmu_context.h - one address space: switching mm does nothing. */
#ifndef _ASM_WASM_MMU_CONTEXT_H
#define _ASM_WASM_MMU_CONTEXT_H

#include <asm-generic/nommu_context.h>

#endif
