/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/compiler.h - included by linux/compiler_types.h into every translation
 * unit, before any kernel code: the place for overrides of compiler builtins
 * that clang rejects for a non-Emscripten wasm target.
 *
 * __builtin_return_address: the wasm backend cannot walk its own stack, and a
 * wasm return address would be meaningless anyway (functions are table
 * indices). _RET_IP_ (linux/instruction_pointer.h, no #ifndef guard) and the
 * few direct users (kernel/panic.c, lib/objpool.c) see 0: "caller unknown".
 * Only frame 0 is ever asked for a meaningful answer; deeper frames were
 * already allowed to be 0.
 */
#ifndef _ASM_WASM_COMPILER_H
#define _ASM_WASM_COMPILER_H

#define __builtin_return_address(n) ((void *)0)

#endif
