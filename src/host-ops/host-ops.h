/* SPDX-License-Identifier: MIT */
/*
 * host-ops.h - the one boundary between C compiled to wasm (the kernel, src/nolibc,
 * test fixtures) and the TypeScript host.
 *
 * Every host operation is a wasm import of module "host", declared here with its
 * contract: what it returns on failure, who owns each pointer, and whether it may
 * suspend (HOST_OP_SUSPENDS). A suspending op stops the calling fiber (an asyncify
 * unwind, or a JSPI suspension) and resumes it later; every other op returns
 * without switching fibers, except the noreturn
 * ones (panic, thread_exit, thread_return), which abandon the caller's stack. The list of
 * suspending ops is also checked in as suspending.json, which feeds binaryen's
 * asyncify-imports; test/host-ops-boundary.test.ts checks that the two agree and that
 * src/host-ops mirrors every op declared here.
 *
 * The table follows LKL's struct lkl_host_operations, with two changes:
 *  - jmp_buf_set/jmp_buf_longjmp are not host ops: they are C setjmp/longjmp,
 *    which clang lowers to wasm exception handling (see "jump points" below);
 *  - preemption points (host_preempt_tick, host_yield) are ops of their own.
 *
 * Handles (semaphores, mutexes, timers, TLS keys) are opaque pointers that C never
 * dereferences; the host checks each one and reports misuse (bad handle, double free,
 * unlocking a mutex another thread owns) as a typed error naming the op and the thread.
 *
 * The host keeps this file's declarations byte-for-byte parseable: one HOST_OP or
 * HOST_OP_SUSPENDS per op, on one line.
 */
#ifndef UKLKL_HOST_OPS_H
#define UKLKL_HOST_OPS_H

#define HOST_OP(ret, name, args) \
	ret host_##name args __attribute__((import_module("host"), import_name(#name)))
/* Same as HOST_OP, for ops that may suspend the calling fiber. */
#define HOST_OP_SUSPENDS(ret, name, args) HOST_OP(ret, name, args)

struct host_sem;
struct host_mutex;
struct host_timer;
struct host_tls_key;

/* A thread handle; 0 is never a valid thread. */
typedef unsigned long host_thread_t;

/* ---- console -------------------------------------------------------------- */

/* Write len bytes of str (not NUL-terminated) to the console. str stays the caller's. */
HOST_OP(void, print, (const char *str, int len));
/*
 * Stop everything: the host fails every pending call with a panic error that
 * carries the console tail. Never returns.
 */
HOST_OP(void, panic, (void)) __attribute__((noreturn));

/* ---- semaphores ------------------------------------------------------------ */

/* A counting semaphore with initial count; NULL when out of memory. */
HOST_OP(struct host_sem *, sem_alloc, (int count));
/* Free it; no thread may be waiting on it. */
HOST_OP(void, sem_free, (struct host_sem *sem));
/* Increment; wakes the longest waiter. Never switches threads. */
HOST_OP(void, sem_up, (struct host_sem *sem));
/* Decrement, waiting while the count is 0. */
HOST_OP_SUSPENDS(void, sem_down, (struct host_sem *sem));

/* ---- mutexes --------------------------------------------------------------- */

/* A mutex, recursive if recursive != 0; NULL when out of memory. */
HOST_OP(struct host_mutex *, mutex_alloc, (int recursive));
/* Free it; it must be unlocked. */
HOST_OP(void, mutex_free, (struct host_mutex *mutex));
/* Lock, waiting while another thread owns it. Locking a non-recursive mutex twice is misuse. */
HOST_OP_SUSPENDS(void, mutex_lock, (struct host_mutex *mutex));
/* Unlock; only the owner may. Wakes the longest waiter. Never switches threads. */
HOST_OP(void, mutex_unlock, (struct host_mutex *mutex));

/* ---- threads --------------------------------------------------------------- */

/*
 * A new thread running fn(arg) on its own stack; it becomes runnable and the caller
 * goes on. Returning from fn exits the thread. 0 when out of memory.
 */
HOST_OP(host_thread_t, thread_create, (void (*fn)(void *), void *arg));
/* The calling thread's resources go away at its exit; nobody may join it. */
HOST_OP(void, thread_detach, (void));
/* End the calling thread: TLS destructors run, then joiners wake. Never returns. */
HOST_OP(void, thread_exit, (void)) __attribute__((noreturn));
/*
 * Return value from the calling thread's entry function at once, abandoning the
 * frames in between and their jump points: a worker's call resolves with value and
 * the worker waits for the next; any other thread exits as if fn had returned.
 */
HOST_OP(void, thread_return, (long value)) __attribute__((noreturn));
/* Wait for thread to end; 0 on success, -1 if it is detached, is the caller, or is already joined. */
HOST_OP_SUSPENDS(int, thread_join, (host_thread_t thread));
/* The calling thread's handle. */
HOST_OP(host_thread_t, thread_self, (void));
/* Non-zero when a and b name the same thread. */
HOST_OP(int, thread_equal, (host_thread_t a, host_thread_t b));
/* A positive id of the calling thread, unique while it lives (it may equal the handle). */
HOST_OP(long, gettid, (void));

/* ---- thread-local storage -------------------------------------------------- */

/*
 * A TLS key whose slot starts NULL in every thread. At a thread's exit, destructor
 * (if any) runs in that thread for each non-NULL slot, which is cleared first.
 * NULL when out of keys.
 */
HOST_OP(struct host_tls_key *, tls_alloc, (void (*destructor)(void *)));
/* Free the key; destructors no longer run for it. */
HOST_OP(void, tls_free, (struct host_tls_key *key));
/* Set the calling thread's slot; 0, or -1 for a freed key. */
HOST_OP(int, tls_set, (struct host_tls_key *key, void *data));
/* The calling thread's slot; NULL for a freed key. */
HOST_OP(void *, tls_get, (struct host_tls_key *key));

/* ---- memory ---------------------------------------------------------------- */

/* size bytes, 16-byte aligned, owned by the caller until mem_free; NULL when out of memory. */
HOST_OP(void *, mem_alloc, (unsigned long size));
/* Free a block from mem_alloc; NULL is ignored. */
HOST_OP(void, mem_free, (void *addr));
/* size bytes (a multiple of 4096), 4096-aligned; NULL when out of memory. */
HOST_OP(void *, page_alloc, (unsigned long size));
/* Free pages from page_alloc; size must be the size they were allocated with. */
HOST_OP(void, page_free, (void *addr, unsigned long size));
/*
 * The user arena: the region where the host stages syscall arguments (the
 * argument block, strings, buffers), and the only memory the kernel accepts
 * user pointers into. Returns its start and stores its size in *size; both
 * page-aligned, outside every other allocation, fixed for the instance's
 * life. NULL (and *size 0) when the host has none. The kernel asks once, at boot.
 */
HOST_OP(void *, user_memory, (unsigned long *size));

/* ---- entropy --------------------------------------------------------------- */

/*
 * Fill buf with len random bytes; buf stays the caller's. Never fails. Returns
 * 0 when the bytes come from the host's cryptographic RNG, 1 when the host was
 * given a seed: the bytes are then a deterministic stream of that seed, the
 * same on every run (for reproducible runs, not for secrets).
 */
HOST_OP(int, random, (void *buf, unsigned long len));

/* ---- time and timers ------------------------------------------------------- */

/* Monotonic nanoseconds since an arbitrary origin. */
HOST_OP(unsigned long long, time, (void));
/*
 * A one-shot timer that, when it fires, runs fn(arg) in a thread of its own at the
 * host's highest priority (fn may block). NULL when out of memory.
 */
HOST_OP(struct host_timer *, timer_alloc, (void (*fn)(void *), void *arg));
/* (Re)arm: fire once, delta_ns from now; replaces an earlier arming. 0 on success. */
HOST_OP(int, timer_set_oneshot, (struct host_timer *timer, unsigned long long delta_ns));
/* Disarm and free; a firing already running finishes. */
HOST_OP(void, timer_free, (struct host_timer *timer));

/* ---- MMIO (virtio-mmio devices) -------------------------------------------- */

/* A cookie for the device registers at addr, or NULL if no device is there. */
HOST_OP(void *, ioremap, (long addr, int size));
/* Read (write == 0) or write size bytes of register addr through val; 0, or -1 for no device. */
HOST_OP(int, iomem_access, (const volatile void *addr, void *val, int size, int write));
/*
 * Write the virtio-mmio device list (a kernel command-line fragment) into buf, at
 * most len bytes including a NUL; returns its full length, as snprintf does.
 */
HOST_OP(int, virtio_devices, (char *buf, int len));

/* ---- jump points ----------------------------------------------------------- */

/*
 * Not host ops: C setjmp/longjmp, compiled with -mexception-handling -mllvm
 * -wasm-enable-sjlj (every module here is). clang rewrites a function that calls
 * setjmp so that each call in it may catch the C longjmp tag, and longjmp throws
 * that tag: the wasm frames in between unwind as an exception, on the fiber's own
 * stack, so jump points need neither asyncify nor the host, and work the same on
 * either fiber backend. The runtime clang calls (__wasm_setjmp and friends) is in
 * host-entry.c. As with any setjmp, the function that called it must not have
 * returned by the time of the longjmp, and memory is not rolled back; a longjmp to
 * a jmp_buf no frame of the thread's stack set is uncaught, and ends the thread
 * with an error naming it. The jmp_buf's layout is the runtime's.
 */
struct host_jmp_buf {
	void *invocation;
	unsigned int label;
	/* What longjmp throws: the jmp_buf and the value setjmp is to return. */
	struct host_jmp_buf *thrown_env;
	int thrown_val;
};

int setjmp(struct host_jmp_buf *jb) __attribute__((returns_twice));
void longjmp(struct host_jmp_buf *jb, int val) __attribute__((noreturn));

/* LKL's jmp_buf_set: save a jump point in jb and call f; returns when f does or when jb is longjmp'd. */
static inline void host_jmp_buf_set(struct host_jmp_buf *jb, void (*f)(void))
{
	if (!setjmp(jb))
		f();
}

/* ---- preemption ------------------------------------------------------------ */

/*
 * Called by the preemption instrumentation when its fuel runs out: the host reads
 * the clock and, if the tick says so, switches to another thread. It also checks
 * the soft-lockup watchdog (see watchdog_tick).
 */
HOST_OP_SUSPENDS(void, preempt_tick, (void));
/*
 * Called by the watchdog instrumentation of loops that cannot block (asyncify
 * leaves them alone, so they get no preempt_tick) when their own fuel,
 * uklkl_watchdog_fuel, runs out: the host refills it and checks the soft-lockup
 * watchdog. Never switches threads. When a kernel task has held the CPU past
 * the watchdog's bound (kernel_soft_lockup), the runtime ends with a
 * soft-lockup error and the op does not return.
 */
HOST_OP(void, watchdog_tick, (void));
/* Let every other runnable thread of the same or higher priority run first. */
HOST_OP_SUSPENDS(void, yield, (void));

/* ---- exports the host calls ------------------------------------------------- *
 *
 * Besides the functions below, a module built by scripts/build-wasm.ts exports
 * memory, __stack_pointer and __heap_base (linker), asyncify_* (asyncify) and,
 * when instrumented for preemption, the fuel counter uklkl_fuel, which the host
 * refills on every preempt_tick (and uklkl_watchdog_fuel, refilled on every
 * watchdog_tick, when loops that cannot block are instrumented too).
 */

/*
 * Every thread, timer firing and TLS destructor starts here: the host calls this
 * export on the thread's own stack with fn and arg as given to thread_create,
 * timer_alloc or tls_alloc. Defined in host-entry.c, which every module links.
 */
void host_entry(void (*fn)(void *), void *arg) __attribute__((export_name("host_entry")));

/*
 * LKL's host-level boot cases, in C against the host ops the module imports (no
 * other code of the module runs). 0 when the case passed, -1 otherwise. Defined
 * in host-selftest.c, which the kernel and the runtime's fixture link.
 */
int host_selftest_mutex(void) __attribute__((export_name("host_selftest_mutex")));
int host_selftest_semaphore(void) __attribute__((export_name("host_selftest_semaphore")));
int host_selftest_join(void) __attribute__((export_name("host_selftest_join")));

/* ---- kernel exports ---------------------------------------------------------
 *
 * What the kernel module (lkl.wasm, built from wasm/) exports for the host to
 * drive it: each function below under its export name (kernel_*; the C names
 * differ only to stay clear of the kernel's own). Besides these the module
 * exports memory, __stack_pointer, __heap_base (host memory allocations start
 * there) and host_entry (above). Every function here may block the calling
 * fiber in host ops (it runs kernel code, which waits for the CPU and for other
 * threads), so the host calls each on a fiber of its own, never from inside
 * another host op.
 */

/*
 * kernel_start: boot with cmdline (NUL-terminated, copied; the virtio_devices
 * op's list is appended). Returns 0 once boot is complete (pid 1 "exec'd"
 * /init); from then on kernel_syscall may be used. -EBUSY if called twice,
 * -E2BIG if the command line is too long, -ENOMEM if a host allocation failed.
 * A panic during boot reaches the host as host_panic and does not return.
 */
int lkl_start_kernel(const char *cmdline) __attribute__((export_name("kernel_start")));
/*
 * kernel_syscall: run syscall nr with its arguments in args[0..5] (one long per
 * argument; a 64-bit argument takes two consecutive slots, low word first) on
 * the calling thread. The first syscall of a thread makes it a kernel task (a
 * thread of pid 1); its TLS destructor ends that task when the thread exits.
 * Returns the syscall's result (negative errno on failure), -ENOSYS for an
 * unknown nr, -EAGAIN before boot is complete, -ESHUTDOWN after kernel_halt.
 * args stays the caller's; the kernel reads and writes the memory the
 * arguments point to, as the syscall specifies.
 */
long lkl_syscall(long nr, long *args) __attribute__((export_name("kernel_syscall")));
/*
 * kernel_new_thread_group: the calling thread's task leaves pid 1's thread
 * group and becomes a process of its own (parent pid 1, sharing pid 1's files
 * and cwd); its old task, if any, exits. 0, or a negative errno.
 */
long lkl_new_thread_group(void) __attribute__((export_name("kernel_new_thread_group")));
/*
 * kernel_halt: shut down (reboot notifiers, device shutdown, tick stopped, the
 * host timer freed); afterwards every kernel_syscall returns -ESHUTDOWN. Kernel
 * threads stay blocked on their semaphores: the host ends them and drops the
 * instance. 0 on success, -EINVAL before boot is complete.
 */
long lkl_sys_halt(void) __attribute__((export_name("kernel_halt")));
/* kernel_is_running: non-zero between a completed kernel_start and kernel_halt. */
int lkl_is_running(void) __attribute__((export_name("kernel_is_running")));
/*
 * kernel_trigger_irq: raise IRQ line irq (from kernel_get_free_irq): its handler
 * runs now on the calling thread if the CPU is free, else on the thread that
 * owns it, as soon as it can. Callable from any host thread (timer and device
 * threads do). 0, or -EINVAL for a line out of range.
 */
int lkl_trigger_irq(int irq) __attribute__((export_name("kernel_trigger_irq")));
/*
 * kernel_mark_irq: mark IRQ line irq pending, from inside a host op of the
 * thread that owns the CPU (a device that completed a request during the
 * register write that submitted it). The owner runs the handler at its next
 * interrupt point; nothing runs or blocks here. 0, or -EINVAL for a line out
 * of range.
 */
int lkl_mark_irq(int irq) __attribute__((export_name("kernel_mark_irq")));
/*
 * kernel_get_free_irq: reserve a free IRQ line (1..NR_IRQS-1), e.g. for a
 * virtio-mmio device before kernel_start; -ENOSPC when none is left. user names
 * the reserver (kept by the caller, for messages only). kernel_put_irq gives a
 * line back.
 */
int lkl_get_free_irq(const char *user) __attribute__((export_name("kernel_get_free_irq")));
void lkl_put_irq(int irq, const char *user) __attribute__((export_name("kernel_put_irq")));
/*
 * kernel_free_pages: where the kernel's RAM starts (*start), and in bitmap one
 * bit per page of it (bit i of byte i/8), set for the pages the page allocator
 * holds free: for the host's boot snapshot. Only while the kernel is idle. The
 * number of pages, or -EINVAL when len bytes are too few.
 */
int lkl_free_pages(unsigned long *start, unsigned char *bitmap, int len) __attribute__((export_name("kernel_free_pages")));
/*
 * kernel_soft_lockup: the host's soft-lockup watchdog asks with its bound. 0
 * unless a task has held the CPU for more than bound_ms without a switch
 * since boot completed (boot and halt are not watched); then it writes a report
 * into buf (at most len bytes, NUL-terminated) and returns its length: a line
 * "pid held_ms comm" for the holder, then a line "pid state comm" per task
 * (state as in /proc: R, S, D, ...). It only reads kernel state: any thread
 * may call it, without the CPU, even from inside a host op.
 */
int lkl_soft_lockup(int bound_ms, char *buf, int len) __attribute__((export_name("kernel_soft_lockup")));

#endif /* UKLKL_HOST_OPS_H */
