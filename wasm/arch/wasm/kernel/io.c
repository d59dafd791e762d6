// SPDX-License-Identifier: GPL-2.0-only
/*
 * io.c - MMIO through the host: ioremap returns the host's cookie for a
 * device's registers and every access goes through host_iomem_access.
 * A failed access (no device) reads as all ones, like a bus with nothing on it.
 */
#include <linux/io.h>
#include "wasm.h"

void __iomem *wasm_ioremap(phys_addr_t addr, size_t size)
{
	return (void __iomem *)host_ioremap((long)addr, (int)size);
}

#define WASM_IOREAD(bits)						\
u##bits wasm_ioread##bits(const volatile void __iomem *addr)		\
{									\
	u##bits value;							\
									\
	if (host_iomem_access((const volatile void *)addr, &value,	\
			      sizeof(value), 0))			\
		return (u##bits)~0;					\
	return value;							\
}

#define WASM_IOWRITE(bits)						\
void wasm_iowrite##bits(u##bits value, volatile void __iomem *addr)	\
{									\
	host_iomem_access((const volatile void *)addr, &value,		\
			  sizeof(value), 1);				\
}

WASM_IOREAD(8)
WASM_IOREAD(16)
WASM_IOREAD(32)
WASM_IOWRITE(8)
WASM_IOWRITE(16)
WASM_IOWRITE(32)
