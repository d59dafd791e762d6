/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/* asm/unistd.h - syscall numbers, generated from scripts/syscall.tbl. */
#include <asm/unistd_32.h>
