/* SPDX-License-Identifier: GPL-2.0-only */
/* asm/vmalloc.h - nothing arch-specific: vmalloc is kmalloc-backed on NOMMU. */
#ifndef _ASM_WASM_VMALLOC_H
#define _ASM_WASM_VMALLOC_H
#endif
