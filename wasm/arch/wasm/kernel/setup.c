// SPDX-License-Identifier: GPL-2.0-only
/*
 * setup.c - boot and halt (the kernel_start/kernel_halt exports), the
 * kernel's RAM, the console, and pid 1.
 *
 * kernel_start runs on the caller's host thread: it creates the thread that
 * runs start_kernel as the swapper task and waits until boot is complete,
 * which is when pid 1 "execs" /init - a file this arch creates and a binfmt
 * that claims it without loading anything. pid 1 then becomes host0, the
 * task all host tasks are cloned from, and its host thread ends.
 *
 * RAM: one host_page_alloc of mem= bytes (default CONFIG_WASM_MEM_DEFAULT
 * MiB) handed to memblock. Console: printk goes to host_print. A panic ends
 * in host_panic, through a panic notifier registered first thing in
 * setup_arch (before it, a panic would spin in panic()'s delay loop).
 *
 * Limits: init memory is never freed (wasm has one code section); no
 * initramfs (the rootfs is an empty ramfs with /dev, /root and /init).
 */
#include <linux/binfmts.h>
#include <linux/console.h>
#include <linux/cpu.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/init_task.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/panic.h>
#include <linux/panic_notifier.h>
#include <linux/ptrace.h>
#include <linux/reboot.h>
#include <linux/seq_file.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/start_kernel.h>
#include <linux/string.h>
#include <linux/delay.h>
#include <asm/page.h>
#include <asm/setup.h>
#include <asm/unistd.h>
#include "wasm.h"

unsigned long memory_start, memory_end;
unsigned long empty_zero_page;
void (*pm_power_off)(void);

bool wasm_halting;
struct task_struct *wasm_init_execd;

static char wasm_command_line[COMMAND_LINE_SIZE];
static unsigned long mem_size = (unsigned long)CONFIG_WASM_MEM_DEFAULT << 20;
static struct host_sem *boot_sem;
static bool boot_complete;

static int __init wasm_parse_mem(char *arg)
{
	unsigned long size = memparse(arg, &arg);

	if (size < (4UL << 20))
		return -EINVAL;
	mem_size = PAGE_ALIGN(size);
	return 0;
}
early_param("mem", wasm_parse_mem);

static void wasm_console_write(struct console *con, const char *str, unsigned int len)
{
	host_print(str, len);
}

static struct console wasm_console = {
	.name	= "wasm",
	.write	= wasm_console_write,
	.flags	= CON_PRINTBUFFER | CON_ENABLED,
	.index	= -1,
};

static void __init wasm_memory_init(void)
{
	unsigned long zone_pfns[MAX_NR_ZONES] = { 0 };
	void *ram = host_page_alloc(mem_size);

	if (!ram)
		panic("wasm: the host has no %lu bytes of RAM for the kernel\n", mem_size);
	memory_start = (unsigned long)ram;
	memory_end = memory_start + mem_size;

	memblock_add(memory_start, mem_size);
	min_low_pfn = PFN_UP(memory_start);
	max_low_pfn = PFN_DOWN(memory_end);
	max_pfn = max_low_pfn;
	max_mapnr = max_pfn - min_low_pfn;
	high_memory = (void *)memory_end;

	empty_zero_page = (unsigned long)memblock_alloc(PAGE_SIZE, PAGE_SIZE);
	if (!empty_zero_page)
		panic("wasm: no memory for the zero page\n");

	zone_pfns[ZONE_NORMAL] = max_pfn;
	free_area_init(zone_pfns);
}

/*
 * kernel_free_pages: which pages of RAM the page allocator holds free, for the
 * host's boot snapshot, which copies only the others (a free page's bytes are
 * never read before it is allocated and written). Pages on per-CPU lists count
 * as used: copying them costs little. It only reads the free lists: call it
 * while the kernel is idle (no thread runs or is runnable).
 */
int lkl_free_pages(unsigned long *start, unsigned char *bitmap, int len)
{
	unsigned long pages = (memory_end - memory_start) >> PAGE_SHIFT;
	unsigned long first = memory_start >> PAGE_SHIFT;
	struct zone *zone;

	*start = memory_start;
	if (len < 0 || (unsigned long)len < DIV_ROUND_UP(pages, 8))
		return -EINVAL;
	memset(bitmap, 0, DIV_ROUND_UP(pages, 8));
	for_each_populated_zone(zone) {
		unsigned int order, type;
		struct page *page;

		for (order = 0; order < NR_PAGE_ORDERS; order++)
			for (type = 0; type < MIGRATE_TYPES; type++)
				list_for_each_entry(page, &zone->free_area[order].free_list[type], buddy_list) {
					unsigned long pfn = page_to_pfn(page) - first;
					unsigned long end = pfn + (1UL << order);

					for (; pfn < end && pfn < pages; pfn++)
						bitmap[pfn / 8] |= 1 << (pfn % 8);
				}
	}
	return pages;
}

static int wasm_panic_notify(struct notifier_block *nb, unsigned long event, void *msg)
{
	host_panic();
}

static struct notifier_block wasm_panic_block = {
	.notifier_call	= wasm_panic_notify,
	.priority	= INT_MIN,	/* after everyone else has printed */
};

void __init setup_arch(char **cmdline_p)
{
	*cmdline_p = wasm_command_line;
	register_console(&wasm_console);
	/* From here on a panic, however early, ends in host_panic. */
	atomic_notifier_chain_register(&panic_notifier_list, &wasm_panic_block);
	parse_early_param();
	wasm_memory_init();
	wasm_user_memory_init();
	/* Before random_init_early, which start_kernel calls next. */
	wasm_random_init();
}

void __init mem_init(void)
{
	memblock_free_all();
}

void free_initmem(void)
{
}

void flush_thread(void)
{
}

void ptrace_disable(struct task_struct *child)
{
}

long arch_ptrace(struct task_struct *child, long request, unsigned long addr,
		 unsigned long data)
{
	return ptrace_request(child, request, addr, data);
}

static int cpuinfo_show(struct seq_file *m, void *v)
{
	seq_puts(m, "processor\t: 0\nmodel name\t: wasm32 (uklkl)\n\n");
	return 0;
}

static void *cpuinfo_start(struct seq_file *m, loff_t *pos)
{
	return *pos == 0 ? (void *)1 : NULL;
}

static void *cpuinfo_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return NULL;
}

static void cpuinfo_stop(struct seq_file *m, void *v)
{
}

const struct seq_operations cpuinfo_op = {
	.start	= cpuinfo_start,
	.next	= cpuinfo_next,
	.stop	= cpuinfo_stop,
	.show	= cpuinfo_show,
};

/* pid 1's "exec" of /init: no program to load, only the exec itself. */
static int wasm_load_init(struct linux_binprm *bprm)
{
	int ret;

	if (boot_complete || current->pid != 1 || strcmp(bprm->filename, "/init"))
		return -ENOEXEC;
	ret = begin_new_exec(bprm);
	if (ret)
		return ret;
	setup_new_exec(bprm);
	wasm_init_execd = current;
	return 0;
}

static struct linux_binfmt wasm_init_format = {
	.load_binary	= wasm_load_init,
};

static int __init wasm_init_binfmt(void)
{
	register_binfmt(&wasm_init_format);
	return 0;
}
core_initcall(wasm_init_binfmt);

/*
 * kernel_init runs /init when it exists; it is an empty file claimed above.
 * Opened read-only: pid 1's fput is deferred to a return to user mode that
 * never comes, and a file still open for writing cannot be exec'd.
 */
static int __init wasm_create_init(void)
{
	struct file *file = filp_open("/init", O_CREAT | O_RDONLY, 0700);

	if (IS_ERR(file))
		return PTR_ERR(file);
	fput(file);
	return 0;
}
late_initcall(wasm_create_init);

/*
 * On pid 1's thread, after its exec: pid 1 becomes host0 and goes to sleep
 * for good (host tasks are cloned from it, syscalls.c); kernel_start's
 * caller is let go, and this thread ends once the CPU is passed on.
 */
void wasm_become_host0(void)
{
	wasm_create_idle_host_task();
	/*
	 * Processes made by kernel_new_thread_group are pid 1's children, and
	 * pid 1 never waits: with SIGCHLD ignored they are reaped at exit.
	 */
	spin_lock_irq(&current->sighand->siglock);
	current->sighand->action[SIGCHLD - 1].sa.sa_handler = SIG_IGN;
	spin_unlock_irq(&current->sighand->siglock);
	set_thread_flag(TIF_HOST_THREAD);
	wasm_host0 = current;
	boot_complete = true;
	host_sem_up(boot_sem);
	do {
		set_current_state(TASK_UNINTERRUPTIBLE);
	} while (!wasm_sched_jb());
	host_thread_exit();
}

/* The swapper's host thread. */
static void run_kernel(void *unused)
{
	host_thread_detach();
	task_thread_info(&init_task)->host->tid = host_thread_self();
	if (wasm_cpu_get(host_thread_self()))
		host_panic();
	start_kernel();
}

int lkl_start_kernel(const char *cmdline)
{
	static bool started;
	int len, ret;

	if (started)
		return -EBUSY;
	started = true;

	len = strscpy(boot_command_line, cmdline ? cmdline : "", COMMAND_LINE_SIZE);
	if (len < 0)
		return -E2BIG;
	if (len && len < COMMAND_LINE_SIZE - 1)
		boot_command_line[len++] = ' ';
	/* virtio-mmio devices the host set up, as virtio_mmio.device= options */
	ret = host_virtio_devices(boot_command_line + len, COMMAND_LINE_SIZE - len);
	if (ret >= COMMAND_LINE_SIZE - len)
		return -E2BIG;
	strscpy(wasm_command_line, boot_command_line, COMMAND_LINE_SIZE);

	wasm_sched_classes_init();
	ret = wasm_cpu_init();
	if (!ret)
		ret = wasm_threads_init();
	if (!ret)
		ret = wasm_syscalls_init();
	if (ret)
		return ret;

	boot_sem = host_sem_alloc(0);
	if (!boot_sem)
		return -ENOMEM;
	if (!host_thread_create(run_kernel, NULL))
		return -ENOMEM;
	host_sem_down(boot_sem);
	return 0;
}

int lkl_is_running(void)
{
	return boot_complete && !wasm_halting;
}

void machine_restart(char *cmd)
{
	wasm_halting = true;
	wasm_time_halt();
}

void machine_halt(void)
{
	machine_restart(NULL);
}

void machine_power_off(void)
{
	machine_restart(NULL);
}

/*
 * Shut the kernel down: reboot(RESTART) runs the reboot notifiers and
 * device shutdown, then machine_restart stops the tick. After it no host
 * thread can take the CPU again; kernel threads stay parked on their
 * semaphores (the host drops the instance).
 */
long lkl_sys_halt(void)
{
	long args[6] = { LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, 0, 0, 0 };
	long ret;

	if (!boot_complete)
		return -EINVAL;
	ret = lkl_syscall(__NR_reboot, args);
	if (ret < 0)
		return ret;
	wasm_cpu_shutdown();
	return 0;
}


