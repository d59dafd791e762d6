/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/io.h - device registers (virtio-mmio) are not memory: ioremap asks
 * the host for a cookie and every register access is a host_iomem_access
 * call (kernel/io.c). Plain memory behind the generic helpers
 * (memcpy_fromio on RAM) is never used by the drivers this arch enables.
 */
#ifndef _ASM_WASM_IO_H
#define _ASM_WASM_IO_H

#include <linux/types.h>

u8 wasm_ioread8(const volatile void __iomem *addr);
u16 wasm_ioread16(const volatile void __iomem *addr);
u32 wasm_ioread32(const volatile void __iomem *addr);
void wasm_iowrite8(u8 value, volatile void __iomem *addr);
void wasm_iowrite16(u16 value, volatile void __iomem *addr);
void wasm_iowrite32(u32 value, volatile void __iomem *addr);
void __iomem *wasm_ioremap(phys_addr_t addr, size_t size);

#define __raw_readb __raw_readb
static inline u8 __raw_readb(const volatile void __iomem *addr)
{
	return wasm_ioread8(addr);
}

#define __raw_readw __raw_readw
static inline u16 __raw_readw(const volatile void __iomem *addr)
{
	return wasm_ioread16(addr);
}

#define __raw_readl __raw_readl
static inline u32 __raw_readl(const volatile void __iomem *addr)
{
	return wasm_ioread32(addr);
}

#define __raw_writeb __raw_writeb
static inline void __raw_writeb(u8 value, volatile void __iomem *addr)
{
	wasm_iowrite8(value, addr);
}

#define __raw_writew __raw_writew
static inline void __raw_writew(u16 value, volatile void __iomem *addr)
{
	wasm_iowrite16(value, addr);
}

#define __raw_writel __raw_writel
static inline void __raw_writel(u32 value, volatile void __iomem *addr)
{
	wasm_iowrite32(value, addr);
}

#define ioremap ioremap
static inline void __iomem *ioremap(phys_addr_t addr, size_t size)
{
	return wasm_ioremap(addr, size);
}

#define iounmap iounmap
static inline void iounmap(volatile void __iomem *addr)
{
}

#include <asm-generic/io.h>

#endif
