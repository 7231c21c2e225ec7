/* A million goroutines spawned concurrently by many goroutines, and a
 * million spawned as a binary tree (every goroutine spawns two children until
 * the depth is reached): each goroutine runs exactly once, none is lost, and
 * only main is left at the end.  Spawners run on every P at once, so the
 * per-P free lists, id batches, run queues and the global queue are all
 * exercised from several threads. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define SPAWNERS    100
#define PER_SPAWNER NG_TEST_SCALE(10000, 40)
#define N           (SPAWNERS * PER_SPAWNER)
#define TREE_DEPTH  NG_TEST_SCALE(20, 12) /* levels 0..19 */
#define TREE_N      ((1u << TREE_DEPTH) - 1)

static _Atomic uint8_t flags[TREE_N > N ? TREE_N : N];
static ng_waitgroup wg = NG_WAITGROUP_INIT;
static ng_waitgroup spawners_wg = NG_WAITGROUP_INIT;
static _Atomic int spawn_errors;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void wait_only_main(void)
{
	double deadline = now_s() + 20.0;
	while (ng_num_goroutines() != 1 && now_s() < deadline)
		ng_yield();
	CHECK_EQ(ng_num_goroutines(), 1);
}

static void check_flags(long n, const char *what)
{
	long zero = 0, twice = 0, first_bad = -1;
	for (long i = 0; i < n; i++) {
		uint8_t f = atomic_load_explicit(&flags[i], memory_order_relaxed);
		if (f != 1 && first_bad < 0)
			first_bad = i;
		zero += f == 0;
		twice += f > 1;
	}
	if (first_bad >= 0)
		fprintf(stderr,
		        "%s: goroutine %ld ran %d times; %ld never ran, %ld more than once\n", what,
		        first_bad, atomic_load(&flags[first_bad]), zero, twice);
	CHECK_EQ(zero, 0);
	CHECK_EQ(twice, 0);
}

/* ---- many spawners ---- */

static void leaf(void *arg)
{
	atomic_fetch_add_explicit(&flags[(uintptr_t)arg], 1, memory_order_relaxed);
	ng_waitgroup_done(&wg);
}

static void spawner(void *arg)
{
	uintptr_t base = (uintptr_t)arg * PER_SPAWNER;
	for (uintptr_t i = 0; i < PER_SPAWNER; i++) {
		if (ng_go(leaf, (void *)(base + i)) != 0)
			atomic_fetch_add(&spawn_errors, 1);
		/* Let the leaves run now and then, so spawners and leaves
		 * interleave on every P (and a million stacks are not all live
		 * at once: each costs a page fault, ~30 us on the test VMs).
		 * test_spawn_million_one covers the burst without a pause. */
		if (i % 64 == 63)
			ng_yield();
	}
	ng_waitgroup_done(&spawners_wg);
}

/* ---- tree ---- */

static void node(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	atomic_fetch_add_explicit(&flags[i], 1, memory_order_relaxed);
	for (uintptr_t c = 2 * i + 1; c <= 2 * i + 2; c++)
		if (c < TREE_N && ng_go(node, (void *)c) != 0)
			atomic_fetch_add(&spawn_errors, 1);
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	double t0 = now_s();
	/* Phase 1: 100 spawners x 10,000, all spawning at the same time. */
	CHECK_EQ(ng_waitgroup_add(&wg, N), 0);
	CHECK_EQ(ng_waitgroup_add(&spawners_wg, SPAWNERS), 0);
	for (uintptr_t s = 0; s < SPAWNERS; s++)
		CHECK_EQ(ng_go(spawner, (void *)s), 0);
	CHECK_EQ(ng_waitgroup_wait(&spawners_wg), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&spawn_errors), 0);
	check_flags(N, "many spawners");
	wait_only_main();
	double t1 = now_s();

	/* Phase 2: a binary tree of 2^20 - 1 goroutines. */
	for (long i = 0; i < (long)TREE_N; i++)
		atomic_store_explicit(&flags[i], 0, memory_order_relaxed);
	CHECK_EQ(ng_waitgroup_add(&wg, TREE_N), 0);
	CHECK_EQ(ng_go(node, (void *)0), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&spawn_errors), 0);
	check_flags(TREE_N, "tree");
	wait_only_main();
	fprintf(stderr, "procs=%d: %d spawners x %d in %.2f s, tree of %u in %.2f s\n", ng_procs(),
	        SPAWNERS, PER_SPAWNER, t1 - t0, TREE_N, now_s() - t1);

	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	CHECK(st.spawns >= 1 + SPAWNERS + (uint64_t)N + TREE_N);
	return 0;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	/* and once more with a single P, where no spawner runs in parallel */
	memset((void *)flags, 0, sizeof flags);
	ng_config cfg = {0};
	cfg.procs = 1;
	CHECK_EQ(ng_run(&cfg, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
