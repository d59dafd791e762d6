/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/elf.h - the kernel loads no ELF programs; these values only let
 * generic code that mentions ELF compile (core dumps and binfmt_elf are off).
 */
#ifndef _ASM_WASM_ELF_H
#define _ASM_WASM_ELF_H

#include <asm/ptrace.h>

#define ELF_CLASS	ELFCLASS32
#define ELF_DATA	ELFDATA2LSB
#define ELF_ARCH	EM_NONE
#define ELF_EXEC_PAGESIZE	4096
#define elf_check_arch(x)	0
#define ELF_HWCAP	0
#define ELF_PLATFORM	NULL
#define ELF_ET_DYN_BASE	0

typedef unsigned long elf_greg_t;
#define ELF_NGREG	(sizeof(struct user_regs_struct) / sizeof(elf_greg_t))
typedef elf_greg_t elf_gregset_t[ELF_NGREG];
typedef struct { } elf_fpregset_t;

#endif
