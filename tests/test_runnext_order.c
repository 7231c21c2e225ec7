/* Run order on one P (Go's runnext semantics, core/runq.h + sched.c):
 *
 *  - A spawned goroutine goes to runnext; the one it displaces goes to the
 *    tail of the ring.  So a goroutine that spawns G1..G10 and then blocks
 *    sees them run as [G10, G1, G2, ..., G9]: runnext first, then the ring
 *    in FIFO order.
 *  - A goroutine A that spawns B and immediately blocks: B runs before the
 *    goroutines spawned earlier that sit in the ring; when B readies A (a
 *    waitgroup done), A goes to runnext and runs before them too.
 *  - Goroutines put on the ring by ng_yield are behind a freshly spawned one.
 *
 * procs=1, so the order is deterministic.
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MAXLOG 64

static int order[MAXLOG];
static int norder;
static ng_waitgroup wg = NG_WAITGROUP_INIT;
static ng_waitgroup wg_a = NG_WAITGROUP_INIT;

static void note(int who)
{
	CHECK(norder < MAXLOG);
	CHECK_EQ(ng_self_proc(), 0);
	order[norder++] = who;
}

static void check_order(const char *what, const int *want, int n)
{
	int ok = norder == n && memcmp(order, want, (size_t)n * sizeof *want) == 0;
	if (!ok) {
		fprintf(stderr, "%s: ran in order", what);
		for (int i = 0; i < norder; i++)
			fprintf(stderr, " %d", order[i]);
		fprintf(stderr, ", expected");
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %d", want[i]);
		fprintf(stderr, "\n");
	}
	CHECK(ok);
}

static void record(void *arg)
{
	note((int)(intptr_t)arg);
	ng_waitgroup_done(&wg);
}

/* ---- 1. ten spawns, then block ---- */

static void spawn_ten(void)
{
	norder = 0;
	CHECK_EQ(ng_waitgroup_add(&wg, 10), 0);
	for (int i = 1; i <= 10; i++)
		CHECK_EQ(ng_go(record, (void *)(intptr_t)i), 0);
	note(0); /* nothing ran yet: spawning does not switch */
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	note(99); /* the last done readied us */
	static const int want[] = {0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99};
	check_order("ten spawns", want, (int)(sizeof want / sizeof *want));
}

/* ---- 2. A spawns B and blocks ---- */

#define A_START   100
#define A_RESUMED 101
#define B         200

static void b_fn(void *arg)
{
	(void)arg;
	note(B);
	ng_waitgroup_done(&wg_a); /* readies A: into our P's runnext */
}

static void a_fn(void *arg)
{
	(void)arg;
	note(A_START);
	CHECK_EQ(ng_waitgroup_add(&wg_a, 1), 0);
	CHECK_EQ(ng_go(b_fn, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg_a), 0);
	note(A_RESUMED);
	ng_waitgroup_done(&wg);
}

static void spawn_then_block(void)
{
	norder = 0;
	CHECK_EQ(ng_waitgroup_add(&wg, 4), 0);
	/* E1..E3 first: after A's spawn they are all in the ring */
	for (int i = 1; i <= 3; i++)
		CHECK_EQ(ng_go(record, (void *)(intptr_t)i), 0);
	CHECK_EQ(ng_go(a_fn, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	note(99);
	static const int want[] = {A_START, B, A_RESUMED, 1, 2, 3, 99};
	check_order("spawn then block", want, (int)(sizeof want / sizeof *want));
}

/* ---- 3. yielders in the ring, then a spawn ---- */

static _Atomic int go_on;

static void yielder(void *arg)
{
	int id = (int)(intptr_t)arg;
	note(id);
	while (!atomic_load(&go_on))
		ng_yield();
	note(id + 10);
	ng_waitgroup_done(&wg);
}

static void fresh(void *arg)
{
	note((int)(intptr_t)arg);
	atomic_store(&go_on, 1);
	ng_waitgroup_done(&wg);
}

static void yielders_then_spawn(void)
{
	norder = 0;
	atomic_store(&go_on, 0);
	CHECK_EQ(ng_waitgroup_add(&wg, 4), 0);
	for (int i = 1; i <= 3; i++)
		CHECK_EQ(ng_go(yielder, (void *)(intptr_t)i), 0);
	/* let each yielder run once and queue itself at the ring's tail:
	 * main's yield runs runnext (3) then the ring (1, 2); 3 and then 1, 2
	 * go round once more behind main */
	ng_yield();
	note(50);
	/* now the ring holds yielders; a spawn goes ahead of all of them */
	CHECK_EQ(ng_go(fresh, (void *)(intptr_t)7), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	note(99);
	/* The exact interleaving of the first pass is checked too: yield puts
	 * the yielder at the tail, runnext goes first. */
	static const int want[] = {3, 1, 2, 50, 7, 13, 11, 12, 99};
	check_order("yielders then spawn", want, (int)(sizeof want / sizeof *want));
}

static int main_g(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 1);
	spawn_ten();
	spawn_then_block();
	yielders_then_spawn();
	spawn_ten(); /* again, with recycled goroutines */
	return 0;
}

int main(void)
{
	ng_config cfg = {0};
	cfg.procs = 1;
	/* The orders are those of goroutines that are not preempted: a slice
	 * that ends mid-sequence (under TSan, a 10 ms slice can) would send
	 * the spawner to the global queue and legitimately reorder them. */
	cfg.time_slice = (int64_t)60 * 1000000000;
	CHECK_EQ(ng_run(&cfg, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
