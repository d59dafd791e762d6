// SPDX-License-Identifier: GPL-2.0-only
/*
 * time.c - clocks and the timer interrupt, all from the host.
 *
 * clocksource and sched_clock read host_time (monotonic ns). The one
 * clockevent device is a host one-shot timer whose callback runs in a host
 * thread of its own and raises the timer IRQ; delays wait on host_time and
 * yield to the host meanwhile. calibrate_delay measures nothing: a "loop"
 * of __delay is one nanosecond here, so loops_per_jiffy is known.
 */
#include <linux/clockchips.h>
#include <linux/clocksource.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/sched/clock.h>
#include <linux/delay.h>
#include <linux/init.h>
#include <asm/irq.h>
#include "wasm.h"

static u64 boot_ns;
static struct host_timer *timer;
static int timer_irq;
static bool timer_stopped;

unsigned long long sched_clock(void)
{
	return host_time() - boot_ns;
}

static u64 wasm_clocksource_read(struct clocksource *cs)
{
	return host_time();
}

static struct clocksource wasm_clocksource = {
	.name	= "wasm",
	.rating	= 499,
	.read	= wasm_clocksource_read,
	.mask	= CLOCKSOURCE_MASK(64),
	.flags	= CLOCK_SOURCE_IS_CONTINUOUS | CLOCK_SOURCE_VALID_FOR_HRES,
};

static int wasm_timer_next_event(unsigned long delta_ns, struct clock_event_device *evt)
{
	if (timer_stopped)
		return 0;
	return host_timer_set_oneshot(timer, delta_ns) ? -EIO : 0;
}

static int wasm_timer_shutdown(struct clock_event_device *evt)
{
	/* The host has no cancel: an arming already made fires and is ignored. */
	return 0;
}

static struct clock_event_device wasm_clockevent = {
	.name			= "wasm",
	.features		= CLOCK_EVT_FEAT_ONESHOT,
	.set_next_event		= wasm_timer_next_event,
	.set_state_shutdown	= wasm_timer_shutdown,
	.set_state_oneshot	= wasm_timer_shutdown,
	.rating			= 499,
};

static irqreturn_t wasm_timer_irq(int irq, void *dev)
{
	if (!clockevent_state_shutdown(&wasm_clockevent) && !timer_stopped)
		wasm_clockevent.event_handler(&wasm_clockevent);
	wasm_cpu_make_way();
	return IRQ_HANDLED;
}

/* Runs in the timer's own host thread. */
static void wasm_timer_fired(void *unused)
{
	lkl_trigger_irq(timer_irq);
}

void __init time_init(void)
{
	int ret;

	boot_ns = host_time();
	if (clocksource_register_hz(&wasm_clocksource, NSEC_PER_SEC))
		panic("wasm: cannot register the clocksource\n");

	timer_irq = wasm_get_free_irq("timer");
	if (timer_irq < 0)
		panic("wasm: no IRQ line for the timer\n");
	ret = request_irq(timer_irq, wasm_timer_irq, IRQF_TIMER, "timer", NULL);
	if (ret)
		panic("wasm: cannot request the timer IRQ: %d\n", ret);
	timer = host_timer_alloc(wasm_timer_fired, NULL);
	if (!timer)
		panic("wasm: the host has no timer for us\n");

	wasm_clockevent.cpumask = cpumask_of(0);
	wasm_clockevent.irq = timer_irq;
	clockevents_config_and_register(&wasm_clockevent, NSEC_PER_SEC, 1, ULONG_MAX);
}

/* At halt: no further tick, and the host timer goes away. */
void wasm_time_halt(void)
{
	timer_stopped = true;
	if (timer)
		host_timer_free(timer);
	timer = NULL;
}

void calibrate_delay(void)
{
	loops_per_jiffy = NSEC_PER_SEC / HZ;
}

void wasm_ndelay(unsigned long nsecs)
{
	u64 end = host_time() + nsecs;

	while (host_time() < end)
		host_yield();
}
