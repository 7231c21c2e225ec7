/* A million goroutines spawned by one goroutine, without a pause between
 * spawns, each run exactly once: every goroutine bumps its own flag, so a
 * goroutine lost (flag 0) or run twice (flag 2) is caught by index.  When all
 * have finished, only main is left. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define N NG_TEST_SCALE(1000000, 4000)

static _Atomic uint8_t flags[N];
static ng_waitgroup wg = NG_WAITGROUP_INIT;
static _Atomic long started;

static void child(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	atomic_fetch_add_explicit(&flags[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&started, 1, memory_order_relaxed);
	ng_waitgroup_done(&wg);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Yield until only main is left; goroutines that called done may still be on
 * their way out.  Bounded so a leak fails instead of hanging. */
static void wait_only_main(void)
{
	double deadline = now_s() + 20.0;
	while (ng_num_goroutines() != 1 && now_s() < deadline)
		ng_yield();
	CHECK_EQ(ng_num_goroutines(), 1);
}

static int main_g(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_num_goroutines(), 1);
	CHECK_EQ(ng_waitgroup_add(&wg, N), 0);
	for (uintptr_t i = 0; i < N; i++)
		CHECK_EQ(ng_go(child, (void *)i), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&started), N);
	long zero = 0, twice = 0;
	long first_bad = -1;
	for (long i = 0; i < N; i++) {
		uint8_t f = atomic_load_explicit(&flags[i], memory_order_relaxed);
		if (f != 1 && first_bad < 0)
			first_bad = i;
		zero += f == 0;
		twice += f > 1;
	}
	if (first_bad >= 0)
		fprintf(stderr,
		        "goroutine %ld ran %d times; %ld never ran, %ld ran more than once\n",
		        first_bad, atomic_load(&flags[first_bad]), zero, twice);
	CHECK_EQ(zero, 0);
	CHECK_EQ(twice, 0);
	wait_only_main();

	ng_stats s;
	CHECK_EQ(ng_stats_read(&s), 0);
	CHECK(s.spawns >= (uint64_t)N + 1);
	uint64_t runs = 0;
	for (int p = 0; p < ng_procs(); p++) {
		ng_proc_stats ps;
		CHECK_EQ(ng_stats_proc(p, &ps), 0);
		runs += ps.runs;
	}
	CHECK(runs >= (uint64_t)N + 1); /* every child and main were switched to */
	return 7;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 7);
	CHECK_EQ(ng_num_goroutines(), 0);
	printf("ok\n");
	return 0;
}
