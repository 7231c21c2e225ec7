/* Per-goroutine counters (NG_GO_PROFILE, ng_counters_self; perf/counters.c).
 *
 *  1. One P: a profiled goroutine computes 30 ms of CPU in 6 runs, each
 *     ended by a yield, while an unprofiled one computes 60 ms in runs
 *     interleaved with them on the same thread.  The profiled goroutine's
 *     own CPU time is its 30 ms (not the thread's 90): it sums its runs and
 *     leaves the other's out.
 *  2. Two Ps: a profiled goroutine that sleeps between chunks (so it may
 *     resume on either M) still sums all its chunks.
 *  3. Errors: an unprofiled goroutine gets -ENOENT, NULL -EINVAL, outside
 *     the runtime -ESRCH; NUMAGO_COUNTERS=none: 0 with valid == 0. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <numago/perf.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MS 1000000LL

static int64_t thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Compute until this thread's CPU clock advanced ns (the thread may change
 * between calls, never within one: no numago call inside). */
static void burn(int64_t ns)
{
	int64_t end = thread_cpu() + ns;
	volatile uint64_t x = 0;
	while (thread_cpu() < end)
		x++;
}

static ng_waitgroup wg = NG_WAITGROUP_INIT;
static int64_t prof_cpu, prof_own;
static uint32_t prof_valid;

static void profiled(void *arg)
{
	int sleep_between = *(int *)arg;
	int64_t own = 0;
	for (int i = 0; i < 6; i++) {
		int64_t t0 = thread_cpu();
		burn(5 * MS);
		own += thread_cpu() - t0;
		if (sleep_between)
			ng_sleep(1 * MS);
		else
			ng_yield();
	}
	ng_counter_sample s;
	CHECK_EQ(ng_counters_self(&s), 0);
	prof_cpu = (int64_t)s.thread_cpu_ns;
	prof_valid = s.valid;
	prof_own = own;
	ng_waitgroup_done(&wg);
}

static void unprofiled(void *arg)
{
	(void)arg;
	ng_counter_sample s;
	CHECK_EQ(ng_counters_self(&s), -ENOENT);
	CHECK_EQ(ng_counters_self(NULL), -EINVAL);
	for (int i = 0; i < 6; i++) {
		burn(10 * MS);
		ng_yield();
	}
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	int sleep_between = *(int *)arg;
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.flags = NG_GO_PROFILE;
	CHECK_EQ(ng_waitgroup_add(&wg, sleep_between ? 1 : 2), 0);
	CHECK_EQ(ng_go_attr(&attr, profiled, &sleep_between), 0);
	if (!sleep_between)
		CHECK_EQ(ng_go(unprofiled, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	return 0;
}

static void run(int procs, int sleep_between, const char *counters)
{
	if (counters != NULL)
		CHECK_EQ(setenv("NUMAGO_COUNTERS", counters, 1), 0);
	ng_config cfg = {0};
	cfg.procs = procs;
	/* Runs end at the yields and sleeps only: on a loaded machine (ctest
	 * -j under TSan) a 5 ms chunk of CPU took over a 10 ms slice of wall
	 * time, and a preemption mid-chunk put the M's hand-off work into the
	 * "inside its runs" figure (6 ms short in CI). */
	cfg.time_slice = 60000 * MS;
	prof_cpu = prof_own = -1;
	CHECK_EQ(ng_run(&cfg, main_g, &sleep_between), 0);
	CHECK_EQ(unsetenv("NUMAGO_COUNTERS"), 0);
}

int main(void)
{
	ng_counter_sample s;
	CHECK_EQ(ng_counters_self(&s), -ESRCH);

	run(1, 0, NULL);
	printf("1 P, interleaved with an unprofiled goroutine: own CPU %.1f ms by its counters, "
	       "%.1f ms measured inside its runs\n",
	       prof_cpu / 1e6, prof_own / 1e6);
	CHECK(prof_valid & NG_CTR_THREAD_CPU);
	/* its own 30 ms and the scheduler work of its runs, none of the
	 * other goroutine's 60 ms.  "Inside its runs" also counts what its
	 * thread did while a preemption signal had stopped it mid-chunk (the
	 * M hands its P on, under TSan even creates a thread: ~2 ms), which
	 * is not the goroutine's: 4 ms of slack, less than one lost chunk. */
	CHECK(prof_cpu >= prof_own - 4 * MS);
	CHECK(prof_cpu < prof_own + 15 * MS);

	run(2, 1, NULL);
	printf("2 Ps, sleeping between chunks: own CPU %.1f ms, %.1f ms inside its runs\n",
	       prof_cpu / 1e6, prof_own / 1e6);
	CHECK(prof_cpu >= prof_own - 4 * MS);
	CHECK(prof_cpu < prof_own + 15 * MS);

	run(1, 1, "none");
	CHECK_EQ(prof_cpu, 0);
	CHECK_EQ(prof_valid, 0);
	printf("ok\n");
	return 0;
}
