/* Work stealing: with two Ps, goroutines that are all spawned by one
 * goroutine onto its own P's run queue get spread over both Ps.
 *
 * Each round, main spawns 200 goroutines (fewer than the 256-slot ring, so
 * nothing overflows to the global queue: the other P can only get them by
 * stealing) that busy-work for ~50 us and record ng_self_proc().  Rounds
 * repeat until the other P has run a fair number of them (the machine is
 * small and noisy, so the thief may be slow to get a CPU), at most 200
 * rounds.  Then: both P ids were seen, ng_stats_proc shows runs on both Ps
 * and steals > 0, and the steal counters agree with what the goroutines saw.
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define PER_ROUND     200
#define MAX_ROUNDS    200
#define WANT_ON_OTHER 400 /* goroutines run by the P that did not spawn them */

static int proc_of[PER_ROUND], spawned_on[PER_ROUND];
static _Atomic int ran[PER_ROUND];
static ng_waitgroup wg = NG_WAITGROUP_INIT;

static int64_t nanos(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void work(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t until = nanos() + 50000;
	while (nanos() < until)
		;
	proc_of[i] = ng_self_proc();
	atomic_fetch_add(&ran[i], 1);
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 2);
	long on_proc[2] = {0, 0};
	long on_other = 0, total = 0;
	int rounds = 0;
	while (rounds < MAX_ROUNDS && on_other < WANT_ON_OTHER) {
		for (int i = 0; i < PER_ROUND; i++) {
			proc_of[i] = -2;
			atomic_store(&ran[i], 0);
		}
		CHECK_EQ(ng_waitgroup_add(&wg, PER_ROUND), 0);
		/* ng_go is a cooperative preemption point: on a loaded machine
		 * main's slice ran out mid-loop and it went on spawning from the
		 * other P (CI: 10 goroutines counted as stolen that were not).
		 * Where each was queued is the P main is on after its ng_go. */
		for (int i = 0; i < PER_ROUND; i++) {
			CHECK_EQ(ng_go(work, (void *)(intptr_t)i), 0);
			spawned_on[i] = ng_self_proc();
		}
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		for (int i = 0; i < PER_ROUND; i++) {
			CHECK_EQ(atomic_load(&ran[i]), 1);
			CHECK(proc_of[i] == 0 || proc_of[i] == 1);
			on_proc[proc_of[i]]++;
			on_other += proc_of[i] != spawned_on[i];
		}
		total += PER_ROUND;
		rounds++;
	}
	fprintf(stderr,
	        "%d rounds: %ld goroutines on P0, %ld on P1, %ld on the spawner's other P\n",
	        rounds, on_proc[0], on_proc[1], on_other);
	/* Which P runs what is timing: on a slow run (sanitizers) the thief may
	 * take every goroutine and the spawner's P run only main.  What must
	 * hold is that the P that did not spawn them ran many. */
	CHECK(on_other >= WANT_ON_OTHER);

	ng_proc_stats s0, s1;
	CHECK_EQ(ng_stats_proc(0, &s0), 0);
	CHECK_EQ(ng_stats_proc(1, &s1), 0);
	fprintf(stderr,
	        "P0: runs %llu steals %llu stolen %llu global_gets %llu parks %llu\n"
	        "P1: runs %llu steals %llu stolen %llu global_gets %llu parks %llu\n",
	        (unsigned long long)s0.runs, (unsigned long long)s0.steals,
	        (unsigned long long)s0.stolen, (unsigned long long)s0.global_gets,
	        (unsigned long long)s0.parks, (unsigned long long)s1.runs,
	        (unsigned long long)s1.steals, (unsigned long long)s1.stolen,
	        (unsigned long long)s1.global_gets, (unsigned long long)s1.parks);
	/* every goroutine was switched to on the P that recorded it */
	CHECK(s0.runs >= (uint64_t)on_proc[0]);
	CHECK(s1.runs >= (uint64_t)on_proc[1]);
	CHECK(s0.runs + s1.runs >= (uint64_t)total);
	/* the other P got its goroutines by stealing: they never went through
	 * the global queue, and a steal moves at least the G it returns */
	CHECK(s0.steals + s1.steals > 0);
	CHECK(s0.stolen + s1.stolen >= (uint64_t)on_other);
	CHECK(s0.stolen >= s0.steals);
	CHECK(s1.stolen >= s1.steals);
	/* spawned on the P main ran on: spawns are counted where they happen */
	CHECK(s0.spawns + s1.spawns >= (uint64_t)total);

	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	CHECK_EQ(st.steals, s0.steals + s1.steals);
	return 0;
}

int main(void)
{
	ng_config cfg = {0};
	cfg.procs = 2;
	CHECK_EQ(ng_run(&cfg, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
