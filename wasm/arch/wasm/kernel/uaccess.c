// SPDX-License-Identifier: GPL-2.0-only
/*
 * uaccess.c - where user memory is: the user arena the host reserves and
 * stages syscall arguments in (see asm/uaccess.h for what is checked).
 *
 * The host's user_memory op names it at boot. It must not overlap the
 * kernel's RAM or the first page; a host without one (a test fixture)
 * leaves it empty, and then every non-empty user access gives EFAULT.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <asm/page.h>
#include <asm/uaccess.h>
#include "wasm.h"

unsigned long wasm_user_start, wasm_user_end;

/* From setup_arch, once the kernel's RAM is known. */
void __init wasm_user_memory_init(void)
{
	unsigned long size = 0;
	unsigned long start = (unsigned long)host_user_memory(&size);

	if (!start || !size) {
		pr_warn("wasm: the host has no user memory: every syscall pointer gives EFAULT\n");
		return;
	}
	if (start < PAGE_SIZE || start + size < start ||
	    (start < memory_end && memory_start < start + size))
		panic("wasm: bad user memory from the host: %#lx, %lu bytes\n", start, size);
	wasm_user_start = start;
	wasm_user_end = start + size;
	pr_info("wasm: user memory %#lx-%#lx\n", wasm_user_start, wasm_user_end);
}
