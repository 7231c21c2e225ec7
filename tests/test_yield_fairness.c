/* ng_yield lets every other runnable goroutine go first: goroutines that do
 * nothing but yield, forever, cannot starve one that has work to do.
 *
 *  - procs=1, 1 hog: the worker counts to 1000 with a yield per step, and
 *    between two of its steps the hog runs a bounded number of times (the
 *    queue is FIFO: exactly once here; we allow some slack).
 *  - procs=1, 4 hogs: the same, with at most a few hog yields per step.
 *  - procs=2, 4 hogs (not pinned): the worker finishes.
 *  - procs=2, worker and 4 hogs all pinned to P1 (attr.proc): pinned
 *    goroutines go round their P's inbox, still fairly.
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>

#define STEPS    1000
#define MAX_HOGS 8

static _Atomic int stop;
static _Atomic long hog_yields[MAX_HOGS];
static _Atomic long hog_total;
static _Atomic int hogs_finished;
static long worker_steps;
static long max_gap;
static int nhogs;
static int pin_to = -1; /* -1: not pinned */
static _Atomic int wrong_proc;
static ng_waitgroup wg;

static void hog(void *arg)
{
	int i = (int)(intptr_t)arg;
	while (!atomic_load_explicit(&stop, memory_order_acquire)) {
		if (pin_to >= 0 && ng_self_proc() != pin_to)
			atomic_store(&wrong_proc, 1);
		atomic_fetch_add_explicit(&hog_yields[i], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&hog_total, 1, memory_order_relaxed);
		ng_yield();
	}
	atomic_fetch_add(&hogs_finished, 1);
	ng_waitgroup_done(&wg);
}

static void worker(void *arg)
{
	(void)arg;
	long before = atomic_load(&hog_total);
	for (int i = 0; i < STEPS; i++) {
		if (pin_to >= 0 && ng_self_proc() != pin_to)
			atomic_store(&wrong_proc, 1);
		worker_steps++;
		ng_yield();
		long now = atomic_load(&hog_total);
		if (i > 0 && now - before > max_gap)
			max_gap = now - before;
		before = now;
	}
	atomic_store_explicit(&stop, 1, memory_order_release);
	ng_waitgroup_done(&wg);
}

static int scenario(void *arg)
{
	(void)arg;
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.proc = pin_to;
	CHECK_EQ(ng_waitgroup_add(&wg, nhogs + 1), 0);
	for (int i = 0; i < nhogs; i++)
		CHECK_EQ(ng_go_attr(&attr, hog, (void *)(intptr_t)i), 0);
	CHECK_EQ(ng_go_attr(&attr, worker, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	return 0;
}

static void run(int procs, int hogs, int pin, long gap_bound)
{
	atomic_store(&stop, 0);
	atomic_store(&hog_total, 0);
	atomic_store(&hogs_finished, 0);
	for (int i = 0; i < MAX_HOGS; i++)
		atomic_store(&hog_yields[i], 0);
	worker_steps = 0;
	max_gap = 0;
	nhogs = hogs;
	pin_to = pin;
	atomic_store(&wrong_proc, 0);
	ng_config cfg = {0};
	cfg.procs = procs;
	CHECK_EQ(ng_run(&cfg, scenario, NULL), 0);
	CHECK_EQ(worker_steps, STEPS);
	CHECK_EQ(atomic_load(&hogs_finished), hogs);
	CHECK_EQ(atomic_load(&wrong_proc), 0);
	if (gap_bound > 0) {
		if (max_gap > gap_bound)
			fprintf(stderr,
			        "procs=%d hogs=%d pin=%d: %ld hog yields between two worker "
			        "steps (bound %ld)\n",
			        procs, hogs, pin, max_gap, gap_bound);
		CHECK(max_gap <= gap_bound);
		/* the worker's yields let every hog run: each hog yielded about
		 * STEPS times while the worker was busy */
		for (int i = 0; i < hogs; i++)
			CHECK(atomic_load(&hog_yields[i]) >= STEPS - 1);
	}
}

int main(void)
{
	run(1, 1, -1, 2);     /* strict alternation expected: 1 */
	run(1, 4, -1, 2 * 4); /* 4 expected */
	run(2, 4, -1, 0);
	run(2, 4, 1, 2 * 4); /* all on P1's inbox: 4 expected */
	printf("ok\n");
	return 0;
}
