// SPDX-License-Identifier: GPL-2.0-only
/*
 * asm-offsets.c - Kbuild generates asm-offsets.h from this file. The arch
 * has no assembly, so there are no offsets to export.
 */
#include <linux/kbuild.h>

int main(void)
{
	return 0;
}
