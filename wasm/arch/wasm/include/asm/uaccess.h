/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/uaccess.h - user memory is one region of the wasm memory: the "user
 * arena" the host reserves and stages syscall arguments in (strings,
 * buffers, the argument block itself). The kernel learns its bounds at boot
 * (kernel/uaccess.c) and accepts a user pointer only inside it, so that no
 * address a caller passes can reach kernel data or run off the end of the
 * memory (which traps: a wasm memory has no page faults to recover from).
 *
 * access_ok() checks the range; so does every raw copy primitive, because a
 * few generic paths call __get_user/__copy_from_user without access_ok()
 * first and rely on the MMU's exception table to fail them. Here a range
 * outside the arena "faults": nothing is copied and the caller gets EFAULT.
 *
 * Limits: memory that mmap() returns (from the kernel's RAM on !MMU) is not
 * user memory here; passing it to a syscall gives EFAULT.
 */
#ifndef _ASM_WASM_UACCESS_H
#define _ASM_WASM_UACCESS_H

#include <linux/string.h>
#include <linux/types.h>
#include <linux/unaligned.h>
#include <asm/processor.h>

/* [wasm_user_start, wasm_user_end): the user arena; both 0 before boot (no user memory). */
extern unsigned long wasm_user_start, wasm_user_end;

static inline bool wasm_user_range_ok(unsigned long addr, unsigned long size)
{
	/* Written so that no addr + size can wrap around. */
	return addr >= wasm_user_start && addr <= wasm_user_end &&
	       size <= wasm_user_end - addr;
}

/*
 * As on other architectures, an empty range is fine anywhere below the top
 * of user memory (read(fd, NULL, 0) returns 0); a non-empty one must lie in
 * the arena.
 */
static inline int __access_ok(const void __user *ptr, unsigned long size)
{
	unsigned long addr = (unsigned long)ptr;

	return size ? wasm_user_range_ok(addr, size) : addr <= wasm_user_end;
}
#define __access_ok __access_ok

/* Each returns the number of bytes not copied: all of them, for a range outside the arena. */
static inline __must_check unsigned long
raw_copy_from_user(void *to, const void __user *from, unsigned long n)
{
	if (unlikely(!wasm_user_range_ok((unsigned long)from, n)))
		return n;
	memcpy(to, (const void __force *)from, n);
	return 0;
}

static inline __must_check unsigned long
raw_copy_to_user(void __user *to, const void *from, unsigned long n)
{
	if (unlikely(!wasm_user_range_ok((unsigned long)to, n)))
		return n;
	memcpy((void __force *)to, from, n);
	return 0;
}
/*
 * No INLINE_COPY_{FROM,TO}_USER: copy_{from,to}_user call lib/usercopy.c's
 * one copy instead of inlining two range checks and a fail path at each of
 * thousands of sites (about 50 KB of image).
 */

static inline __must_check unsigned long __clear_user(void __user *to, unsigned long n)
{
	if (unlikely(!wasm_user_range_ok((unsigned long)to, n)))
		return n;
	memset((void __force *)to, 0, n);
	return 0;
}
#define __clear_user __clear_user

/*
 * Kernel "nofault" accesses (copy_from_kernel_nofault and friends) fault
 * only beyond the end of the wasm memory, which would trap.
 */
static inline bool wasm_kernel_range_ok(unsigned long addr, unsigned long size)
{
	/* 64-bit: a full 4 GiB memory and addr + size both overflow 32 bits. */
	u64 end = (u64)__builtin_wasm_memory_size(0) << 16;

	return addr && (u64)addr + size <= end;
}

#define __get_kernel_nofault(dst, src, type, err_label)			\
do {									\
	if (!wasm_kernel_range_ok((unsigned long)(src), sizeof(type)))	\
		goto err_label;						\
	*((type *)(dst)) = get_unaligned((type *)(src));		\
} while (0)

#define __put_kernel_nofault(dst, src, type, err_label)			\
do {									\
	if (!wasm_kernel_range_ok((unsigned long)(dst), sizeof(type)))	\
		goto err_label;						\
	put_unaligned(*((type *)(src)), (type *)(dst));			\
} while (0)

#include <asm-generic/uaccess.h>

#endif
