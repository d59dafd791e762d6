// SPDX-License-Identifier: GPL-2.0-only
/*
 * io.c - MMIO through the host: ioremap returns the host's cookie for a
 * device's registers and every access goes through host_iomem_access.
 * A failed access (no device) reads as all ones, like a bus with nothing on it.
 *
 * Devices plugged in while the kernel runs: virtio_mmio.device= is read at boot
 * only (its sysfs file is read-only), so uklkl.virtio_mmio_device takes the same
 * <size>@<base>:<irq> at any time. The host writes it into
 * /sys/module/uklkl/parameters/virtio_mmio_device; the device is registered and
 * probed (a disk's partitions read) before the write returns.
 */
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/moduleparam.h>
#include <linux/platform_device.h>
#include "wasm.h"

#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "uklkl."

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

static int wasm_register_virtio_mmio(long long base, unsigned long long size, unsigned int irq)
{
	struct resource res[] = { DEFINE_RES_MEM(base, size), DEFINE_RES_IRQ(irq) };

	return PTR_ERR_OR_ZERO(platform_device_register_simple("virtio-mmio", PLATFORM_DEVID_AUTO,
								res, ARRAY_SIZE(res)));
}

static int wasm_plug_virtio_mmio(const char *val, const struct kernel_param *kp)
{
	long long base;
	unsigned long long size;
	unsigned int irq;
	char *rest;
	int end = 0;

	size = memparse(val, &rest);
	if (sscanf(rest, "@%lli:%u%n", &base, &irq, &end) != 2 || !size || !irq)
		return -EINVAL;
	if (rest[end] && strcmp(rest + end, "\n"))
		return -EINVAL;
	return wasm_register_virtio_mmio(base, size, irq);
}

static const struct kernel_param_ops wasm_plug_ops = {
	.set = wasm_plug_virtio_mmio,
};
module_param_cb(virtio_mmio_device, &wasm_plug_ops, NULL, 0200);
