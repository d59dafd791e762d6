// SPDX-License-Identifier: GPL-2.0-only
/*
 * anchors.c - start and end symbols of the kernel's link-time tables,
 * without a linker script. This object must be the FIRST input of the
 * final link (wasm/build.ts puts it there; it is not in vmlinux.a).
 *
 * Why that works: wasm-ld gathers input data of one section name into one
 * output segment, in input order, and creates the output segments in the
 * order their names first appear in the inputs (segments whose names start
 * with .rodata, .data, .bss or .tdata are regrouped; none here do). So the
 * zero-sized arrays below, being first, sit at the very start of their
 * segments, and the segments of one table come out in the order written
 * here, back to back: an end marker is a zero-sized array in a section of
 * its own, right after the table. wasm/build.ts checks this on every link
 * against the linker's map file and fails the build if it ever stops
 * holding, so nothing here is taken on trust.
 *
 * The initcall levels must be one contiguous array in level order
 * (init/main.c walks from __initcall0_start to __initcall_end), with each
 * level's "sync" part and rootfs in between - hence one anchor per section.
 * __start_rodata .. __end_rodata spans all static data, from the start of
 * .rodata (the first data segment) to the start of .bss: kfree_const() and
 * friends must recognise every string the image itself holds, or they would
 * kfree() a static address. The other marks of a linker script (_stext,
 * __init_begin, ...) have no meaning for wasm (code is not in memory); they
 * share one address, so every range they bound is empty ("not kernel text").
 */

#define ANCHOR(sec, name) \
	char name[0] __attribute__((used, section(sec), aligned(1)))
#define ORDER(sec, name) \
	static char name[0] __attribute__((used, section(sec), aligned(1)))

ANCHOR(".initcallearly.init", __initcall_start);
ANCHOR(".initcall0.init", __initcall0_start);
ORDER(".initcall0s.init", order_0s);
ANCHOR(".initcall1.init", __initcall1_start);
ORDER(".initcall1s.init", order_1s);
ANCHOR(".initcall2.init", __initcall2_start);
ORDER(".initcall2s.init", order_2s);
ANCHOR(".initcall3.init", __initcall3_start);
ORDER(".initcall3s.init", order_3s);
ANCHOR(".initcall4.init", __initcall4_start);
ORDER(".initcall4s.init", order_4s);
ANCHOR(".initcall5.init", __initcall5_start);
ORDER(".initcall5s.init", order_5s);
ORDER(".initcallrootfs.init", order_rootfs);
ANCHOR(".initcall6.init", __initcall6_start);
ORDER(".initcall6s.init", order_6s);
ANCHOR(".initcall7.init", __initcall7_start);
ORDER(".initcall7s.init", order_7s);
ANCHOR(".initcall.end", __initcall_end);

ANCHOR(".con_initcall.init", __con_initcall_start);
ANCHOR(".con_initcall.end", __con_initcall_end);

ANCHOR(".init.setup", __setup_start);
ANCHOR(".init.setup.end", __setup_end);

ANCHOR("__param", __start___param);
ANCHOR("__param.end", __stop___param);

ANCHOR("__modver", __start___modver);
ANCHOR("__modver.end", __stop___modver);

ANCHOR("__ex_table", __start___ex_table);
ANCHOR("__ex_table.end", __stop___ex_table);

#define MARK(name) ANCHOR("wasm.marks", name)

MARK(_text);
MARK(_stext);
MARK(_etext);
MARK(_sinittext);
MARK(_einittext);
MARK(_sdata);
MARK(_edata);
MARK(__bss_start);
MARK(__bss_stop);
MARK(_end);
MARK(__init_begin);
MARK(__init_end);
MARK(__start_ro_after_init);
MARK(__end_ro_after_init);
MARK(__start_notes);
MARK(__stop_notes);
MARK(__start_once);
MARK(__end_once);
MARK(__sched_text_start);
MARK(__sched_text_end);
MARK(__cpuidle_text_start);
MARK(__cpuidle_text_end);
MARK(__lock_text_start);
MARK(__lock_text_end);
MARK(__irqentry_text_start);
MARK(__irqentry_text_end);
MARK(__softirqentry_text_start);
MARK(__softirqentry_text_end);
MARK(__kprobes_text_start);
MARK(__kprobes_text_end);
MARK(__entry_text_start);
MARK(__entry_text_end);
MARK(__noinstr_text_start);
MARK(__noinstr_text_end);

/* First in .rodata and first in .bss: see the header. */
ANCHOR(".rodata.wasm_start", __start_rodata);
ANCHOR(".bss.wasm_end_rodata", __end_rodata);
