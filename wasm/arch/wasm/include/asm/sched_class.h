/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * asm/sched_class.h - scheduler classes without a linker script.
 *
 * kernel/sched ranks classes by address (sched_class_above is "a < b") and
 * walks them with class++, so they must sit in one array, highest first.
 * A linker script lays the per-class sections out in that order; wasm-ld
 * has none and orders output segments by first appearance. Instead of
 * depending on that, the array here IS the order: each DEFINE_SCHED_CLASS
 * defines a const template, and wasm_sched_classes_init() (kernel/sched.c,
 * called before start_kernel) copies the templates into their fixed slots.
 * The names the scheduler uses (fair_sched_class, ...) are array elements,
 * so every comparison and walk is over this array. Needs the patch that
 * makes kernel/sched/sched.h include this header (CONFIG_ARCH_NO_LINKER_SCRIPT).
 */
#ifndef _ASM_WASM_SCHED_CLASS_H
#define _ASM_WASM_SCHED_CLASS_H

#if defined(CONFIG_SMP) || defined(CONFIG_SCHED_CLASS_EXT)
#error "the wasm class table knows dl, rt, fair and idle only (no stop, no ext)"
#endif

enum wasm_sched_class_slot {
	WASM_SCHED_DL,
	WASM_SCHED_RT,
	WASM_SCHED_FAIR,
	WASM_SCHED_IDLE,
	WASM_NR_SCHED_CLASSES,
};

extern struct sched_class wasm_sched_classes[WASM_NR_SCHED_CLASSES];

#define DEFINE_SCHED_CLASS(name) \
	const struct sched_class wasm_sched_class_template_##name

extern const struct sched_class wasm_sched_class_template_dl;
extern const struct sched_class wasm_sched_class_template_rt;
extern const struct sched_class wasm_sched_class_template_fair;
extern const struct sched_class wasm_sched_class_template_idle;

#define dl_sched_class		(wasm_sched_classes[WASM_SCHED_DL])
#define rt_sched_class		(wasm_sched_classes[WASM_SCHED_RT])
#define fair_sched_class	(wasm_sched_classes[WASM_SCHED_FAIR])
#define idle_sched_class	(wasm_sched_classes[WASM_SCHED_IDLE])

#define __sched_class_highest	(&wasm_sched_classes[0])
#define __sched_class_lowest	(&wasm_sched_classes[WASM_NR_SCHED_CLASSES])

#endif
