/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/* asm/byteorder.h - wasm is little-endian. */
#ifndef _UAPI_ASM_WASM_BYTEORDER_H
#define _UAPI_ASM_WASM_BYTEORDER_H

#include <linux/byteorder/little_endian.h>

#endif
