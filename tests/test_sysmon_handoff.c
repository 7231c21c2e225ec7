/* Deferred wakes for hand-offs (core/sysmon.c), on 2 Ps:
 *
 *  1. A goroutine readied into runnext by a goroutine that then keeps
 *     computing (never calling the runtime) still runs, on the other P, soon:
 *     sysmon notices the P owing a wake that has not switched for a tick and
 *     wakes the idle P, whose M steals runnext.  Without that check the
 *     readied goroutine would wait for the computing one forever.
 *  2. A hand-off to a parked goroutine while a P is idle and nobody spins
 *     wakes an M under Go's policy (NUMAGO_DEBUG=sysmon=0) and does not with
 *     deferred wakes, amid a stream of hand-offs (sysmon defers only while
 *     they come often): the readier blocks right after and runs the
 *     readied goroutine itself.
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include "core/internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- 1 ---- */

static _Atomic int ran_on = -1;
static _Atomic int64_t ran_at;
static ng_g *_Atomic receiver_g;

/* Echoes until it receives -1. */
static void receiver(void *arg)
{
	ng_chan **c = arg;
	atomic_store(&receiver_g, ng_getm()->curg);
	int v;
	for (;;) {
		CHECK_EQ(ng_chan_recv(c[0], &v), 0);
		if (v < 0)
			break;
		CHECK_EQ(ng_chan_send(c[1], &v), 0);
	}
	atomic_store(&ran_at, now_ns());
	atomic_store(&ran_on, ng_self_proc());
}

/* Poll (no runtime call) until cond or 1 s. */
#define WAIT_FOR(cond)                                    \
	do {                                              \
		int64_t until_ = now_ns() + 1000000000LL; \
		while (!(cond) && now_ns() < until_)      \
			;                                 \
	} while (0)

static int handoff_then_compute(void *arg)
{
	(void)arg;
	ng_chan *c[2] = {ng_chan_make(sizeof(int), 0), ng_chan_make(sizeof(int), 0)};
	CHECK(c[0] != NULL && c[1] != NULL);
	CHECK_EQ(ng_go(receiver, c), 0);
	/* Set the scene, retrying if the timing (sanitizers, a loaded machine)
	 * spoils it: sysmon lets readies defer (it saw hand-offs within its
	 * last 50 ticks), the receiver is parked in its receive, and no M
	 * spins, so after the send below only sysmon can get it running. */
	bool ready = false;
	for (int attempt = 0; attempt < 20 && !ready; attempt++) {
		/* 30 ms of hand-offs with a P idle: sysmon, whatever its tick
		 * was, has seen them. */
		int64_t until = now_ns() + 30 * 1000000LL;
		for (int v = 0; now_ns() < until; v++) {
			int w;
			CHECK_EQ(ng_chan_send(c[0], &v), 0);
			CHECK_EQ(ng_chan_recv(c[1], &w), 0);
			CHECK_EQ(w, v);
		}
		WAIT_FOR(atomic_load_explicit(&atomic_load(&receiver_g)->status,
		                              memory_order_acquire) == NG_G_WAITING);
		/* the other P idle, its M parked (spin budget: 50 us) */
		WAIT_FOR(atomic_load(&ng_sched_g.nmspinning) == 0 &&
		         atomic_load(&ng_sched_g.npidle) == ng_procs() - 1);
		ready = atomic_load(&atomic_load(&receiver_g)->status) == NG_G_WAITING &&
		        atomic_load(&ng_sched_g.nmspinning) == 0 &&
		        atomic_load(&ng_sched_g.npidle) == ng_procs() - 1 &&
		        atomic_load(&ng_sched_g.sysmon_defer) == 1;
	}
	CHECK(ready);
	ng_stats before;
	CHECK_EQ(ng_stats_read(&before), 0);
	int me = ng_self_proc();
	int v = -1;
	int64_t sent = now_ns();
	CHECK_EQ(ng_chan_send(c[0], &v), 0); /* the receiver goes to our runnext */
	/* Keep this P for up to 2 s without a runtime call. */
	int64_t give_up = sent + 2000000000LL;
	while (atomic_load(&ran_on) < 0 && now_ns() < give_up)
		;
	int where = atomic_load(&ran_on);
	if (where < 0) {
		fprintf(stderr,
		        "readied goroutine did not run in 2 s while its readier computed\n");
		CHECK(where >= 0);
	}
	CHECK(where != me);
	ng_stats after;
	CHECK_EQ(ng_stats_read(&after), 0);
	CHECK(after.sysmon_wakes > before.sysmon_wakes);
	printf("hand-off then compute: ran on P%d after %.1f us (sysmon wakes %llu)\n", where,
	       (double)(atomic_load(&ran_at) - sent) / 1e3,
	       (unsigned long long)(after.sysmon_wakes - before.sysmon_wakes));
	ng_chan_release(c[0]);
	ng_chan_release(c[1]);
	return 0;
}

/* ---- 2 ---- */

#define HANDOFFS 50

/* Echoes c[0] to c[1]; receiver_g is reused to watch it park. */
static void echo(void *arg)
{
	ng_chan **c = arg;
	atomic_store(&receiver_g, ng_getm()->curg);
	int v;
	while (ng_chan_recv(c[0], &v) == 0 && v >= 0)
		CHECK_EQ(ng_chan_send(c[1], &v), 0);
}

static uint64_t wakes_now(void)
{
	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	return st.m_wakes + st.ms;
}

/* How many of HANDOFFS hand-offs woke an M, each made with the other P idle,
 * nobody spinning and the receiver parked, so under Go's policy every one
 * must wake an M (an idle P, no spinner) and with deferred wakes none need
 * to.  Counted between the send and the next statement, so no timing is
 * involved beyond the preconditions. */
static int handoff_wakes_main(void *arg)
{
	bool deferring = ng_sched_g.sysmon_running != 0;
	ng_chan *c[2] = {ng_chan_make(sizeof(int), 0), ng_chan_make(sizeof(int), 0)};
	CHECK(c[0] != NULL && c[1] != NULL);
	atomic_store(&receiver_g, NULL);
	CHECK_EQ(ng_go(echo, c), 0);
	int woke = 0, counted = 0;
	int64_t give_up = now_ns() + 20 * 1000000000LL;
	for (int i = 0; counted < HANDOFFS && now_ns() < give_up; i++) {
		/* A burst of hand-offs first: sysmon defers wakes only while
		 * they come often (a lone one wakes an M, as in Go). */
		for (int k = 0; k < 200; k++) {
			int v = 1000000 + k, w;
			CHECK_EQ(ng_chan_send(c[0], &v), 0);
			CHECK_EQ(ng_chan_recv(c[1], &w), 0);
			CHECK_EQ(w, v);
		}
		WAIT_FOR(atomic_load(&receiver_g) != NULL &&
		         atomic_load(&atomic_load(&receiver_g)->status) == NG_G_WAITING &&
		         atomic_load(&ng_sched_g.nmspinning) == 0 &&
		         atomic_load(&ng_sched_g.npidle) == ng_procs() - 1 &&
		         (!deferring || atomic_load(&ng_sched_g.sysmon_defer) == 1));
		bool scene = atomic_load(&receiver_g) != NULL &&
		             atomic_load(&atomic_load(&receiver_g)->status) == NG_G_WAITING &&
		             atomic_load(&ng_sched_g.nmspinning) == 0 &&
		             atomic_load(&ng_sched_g.npidle) == ng_procs() - 1 &&
		             (!deferring || atomic_load(&ng_sched_g.sysmon_defer) == 1);
		uint64_t before = wakes_now();
		CHECK_EQ(ng_chan_send(c[0], &i), 0);
		uint64_t after = wakes_now();
		if (scene) {
			counted++;
			woke += after > before;
		}
		int w;
		CHECK_EQ(ng_chan_recv(c[1], &w), 0);
		CHECK_EQ(w, i);
	}
	CHECK_EQ(counted, HANDOFFS);
	int stop = -1;
	CHECK_EQ(ng_chan_send(c[0], &stop), 0);
	ng_chan_release(c[0]);
	ng_chan_release(c[1]);
	*(int *)arg = woke;
	return 0;
}

int main(void)
{
	ng_config cfg = {0};
	cfg.procs = 2;
	/* Part 1 computes for up to 2 s right after a stream of hand-offs that
	 * kept one slice going (runnext inherits it): with the default 10 ms
	 * slice sysmon may preempt the readier in the same tick that would
	 * wake the idle P, and the preempted goroutine's hand-off, not sysmon's
	 * wake, would start the receiver.  This test is about the wake. */
	cfg.time_slice = (int64_t)60 * 1000000000;
	CHECK_EQ(ng_run(&cfg, handoff_then_compute, NULL), 0);

	/* Go's policy first: no sysmon, every ready wakes an idle P. */
	int go_policy = 0, deferred = 0;
	CHECK_EQ(setenv("NUMAGO_DEBUG", "sysmon=0", 1), 0);
	CHECK_EQ(ng_run(&cfg, handoff_wakes_main, &go_policy), 0);
	CHECK_EQ(unsetenv("NUMAGO_DEBUG"), 0);
	CHECK_EQ(ng_run(&cfg, handoff_wakes_main, &deferred), 0);
	printf("%d hand-offs to a parked goroutine with a P idle: %d woke an M with Go's "
	       "policy, %d with deferred wakes\n",
	       HANDOFFS, go_policy, deferred);
	/* A sysmon tick can fall between a send and its count (a stalled
	 * thread), and the idle M, between giving up its P and sleeping,
	 * re-checks the run queues and may take the receiver before the send
	 * looks for an idle P (a few per 50 under TSan): a few, never most. */
	CHECK(go_policy >= HANDOFFS * 3 / 4);
	CHECK(deferred <= HANDOFFS / 10);
	return 0;
}
