/* The local run queue holds 256 goroutines; a goroutine that spawns 10,000
 * without yielding on a single P overflows it into the global queue (half the
 * ring at a time).  Nothing is lost or duplicated on the way: every goroutine
 * runs exactly once, the global queue was used (global_put > 0) and drained
 * back (global_gets > 0), and only main is left at the end.
 *
 * A second round makes the spawned goroutines yield a few times each, so
 * they go round ring and global queue while the spawner is still adding. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define N NG_TEST_SCALE(10000, 4000)

static _Atomic uint8_t flags[N];
static _Atomic long ran;
static ng_waitgroup wg = NG_WAITGROUP_INIT;

static void child(void *arg)
{
	atomic_fetch_add_explicit(&flags[(uintptr_t)arg], 1, memory_order_relaxed);
	atomic_fetch_add(&ran, 1);
	ng_waitgroup_done(&wg);
}

static void child_yielding(void *arg)
{
	for (int i = 0; i < 3; i++)
		ng_yield();
	child(arg);
}

static void check_all_once(void)
{
	long zero = 0, more = 0, first_bad = -1;
	for (long i = 0; i < N; i++) {
		uint8_t f = atomic_load(&flags[i]);
		if (f != 1 && first_bad < 0)
			first_bad = i;
		zero += f == 0;
		more += f > 1;
	}
	if (first_bad >= 0)
		fprintf(stderr, "goroutine %ld ran %d times: %ld never ran, %ld more than once\n",
		        first_bad, atomic_load(&flags[first_bad]), zero, more);
	CHECK_EQ(zero, 0);
	CHECK_EQ(more, 0);
}

static int main_g(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 1);
	ng_stats before;
	CHECK_EQ(ng_stats_read(&before), 0);

	CHECK_EQ(ng_waitgroup_add(&wg, N), 0);
	for (uintptr_t i = 0; i < N; i++)
		CHECK_EQ(ng_go(child, (void *)i), 0);
	/* on one P nothing ran yet: they are all queued, most of them globally */
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(ng_num_goroutines(), N + 1);
	ng_stats mid;
	CHECK_EQ(ng_stats_read(&mid), 0);
	/* the ring holds 256 and runnext 1: the rest went to the global queue */
	CHECK(mid.global_put - before.global_put >= (uint64_t)(N - 257));
	CHECK(mid.global_put - before.global_put <= (uint64_t)N);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&ran), N);
	check_all_once();
	/* one P: the last child readied us and exited before we ran */
	CHECK_EQ(ng_num_goroutines(), 1);

	ng_proc_stats ps;
	CHECK_EQ(ng_stats_proc(0, &ps), 0);
	CHECK(ps.global_gets > 0);
	CHECK(ps.runs >= (uint64_t)N + 1);
	CHECK(ps.spawns >= (uint64_t)N);
	CHECK_EQ(ps.steals, 0); /* nobody to steal from */

	/* round 2: yielding children */
	memset((void *)flags, 0, sizeof flags);
	atomic_store(&ran, 0);
	CHECK_EQ(ng_waitgroup_add(&wg, N), 0);
	for (uintptr_t i = 0; i < N; i++)
		CHECK_EQ(ng_go(child_yielding, (void *)i), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&ran), N);
	check_all_once();
	ng_stats after;
	CHECK_EQ(ng_stats_read(&after), 0);
	CHECK(after.global_put - mid.global_put >= (uint64_t)(N - 257));
	return 0;
}

int main(void)
{
	ng_config cfg = {0};
	cfg.procs = 1;
	/* The spawning loop may take longer than a 10 ms slice on a loaded
	 * machine; preempted, it would let children run before the checks
	 * that expect none to have. */
	cfg.time_slice = (int64_t)60 * 1000000000;
	CHECK_EQ(ng_run(&cfg, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
