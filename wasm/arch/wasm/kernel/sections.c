// SPDX-License-Identifier: GPL-2.0-only
/*
 * sections.c - what a linker script would otherwise define, in C:
 * init_stack (init_task's thread_info), and the scheduler class table
 * (asm/sched_class.h). The section tables and the address marks are in
 * anchors.c, which has to be the first object of the link.
 */
#include <linux/sched.h>
#include <linux/init_task.h>
#include "../../../kernel/sched/sched.h"
#include "wasm.h"

unsigned long init_stack[THREAD_SIZE / sizeof(unsigned long)] __aligned(16);

struct sched_class wasm_sched_classes[WASM_NR_SCHED_CLASSES];

/* Before start_kernel: every class takes its slot, highest first. */
void wasm_sched_classes_init(void)
{
	wasm_sched_classes[WASM_SCHED_DL] = wasm_sched_class_template_dl;
	wasm_sched_classes[WASM_SCHED_RT] = wasm_sched_class_template_rt;
	wasm_sched_classes[WASM_SCHED_FAIR] = wasm_sched_class_template_fair;
	wasm_sched_classes[WASM_SCHED_IDLE] = wasm_sched_class_template_idle;
}
