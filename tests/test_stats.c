/* Runtime statistics (ng_stats_read, ng_stats_proc): the switch, park,
 * failed-steal, spin-time and channel counters, on 2 Ps with a fixed spin
 * budget of 200 us (NUMAGO_DEBUG=spin=200000, set here unless the
 * environment sets NUMAGO_DEBUG).
 *
 * Every snapshot is taken at a quiescent point (the goroutines of the part
 * are done) and held still: the totals are read twice around the per-P
 * reads until both reads agree, and then each total must equal the sum of
 * its per-P counters (switches = runs, parks, steals, failed steals in all
 * and by class, spin_ns, chan_sends, chan_recvs, chan_select), the channel
 * totals plus the operations this test did from a thread without a P.
 *
 * Checked, each part with exact deltas or bounds:
 *   channels: buffered, unbuffered (a 50-round ping-pong), try_send and
 *     try_recv succeeding and failing, selects (non-blocking, blocking,
 *     timed out, a case that finds its channel closed), closed channels,
 *     and a foreign thread's operations: chan_sends and chan_recvs count
 *     the elements that moved, chan_select the selects that ran a case;
 *     failed attempts (-EAGAIN, -ETIMEDOUT, -EPIPE) count nothing;
 *   switches: at least one per goroutine spawned;
 *   parks: grow while the Ms are idle (the main goroutine sleeps);
 *   spin_ns: grows over a phase where both Ps run out of work and spin;
 *   failed steals: above 0 after bursts of work on 2 Ps, all in the class
 *     of the distance between P0 and P1, the classes summing to the total.
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* operations done from a thread without a P (counted in the totals only) */
static uint64_t f_sends, f_recvs, f_select;

static void sum_procs(ng_stats *s)
{
	memset(s, 0, sizeof *s);
	ng_proc_stats ps;
	int n = 0;
	for (; ng_stats_proc(n, &ps) == 0; n++) {
		s->switches += ps.runs;
		s->parks += ps.parks;
		s->steals += ps.steals;
		uint64_t f = 0;
		for (int c = 0; c < NG_DIST_NCLASSES; c++) {
			s->steals_by_class[c] += ps.steals_by_class[c];
			s->failed_steals_by_class[c] += ps.failed_steals_by_class[c];
			f += ps.failed_steals_by_class[c];
		}
		CHECK_EQ(f, ps.failed_steals);
		s->failed_steals += ps.failed_steals;
		s->spin_ns += ps.spin_ns;
		s->chan_sends += ps.chan_sends;
		s->chan_recvs += ps.chan_recvs;
		s->chan_select += ps.chan_select;
	}
	CHECK_EQ(n, ng_procs());
}

/* A snapshot that held still, checked against the per-P sums. */
static void snap(ng_stats *out)
{
	for (int attempt = 0; attempt < 2000; attempt++) {
		ng_stats a, b, sum;
		CHECK_EQ(ng_stats_read(&a), 0);
		sum_procs(&sum);
		CHECK_EQ(ng_stats_read(&b), 0);
		if (memcmp(&a, &b, sizeof a) != 0) {
			if (attempt > 100)
				ng_sleep(1000000);
			else
				ng_yield();
			continue;
		}
		CHECK_EQ(a.switches, sum.switches);
		CHECK_EQ(a.parks, sum.parks);
		CHECK_EQ(a.steals, sum.steals);
		CHECK_EQ(a.failed_steals, sum.failed_steals);
		uint64_t f = 0;
		for (int c = 0; c < NG_DIST_NCLASSES; c++) {
			CHECK_EQ(a.steals_by_class[c], sum.steals_by_class[c]);
			CHECK_EQ(a.failed_steals_by_class[c], sum.failed_steals_by_class[c]);
			f += a.failed_steals_by_class[c];
		}
		CHECK_EQ(f, a.failed_steals);
		CHECK_EQ(a.spin_ns, sum.spin_ns);
		CHECK_EQ(a.chan_sends, sum.chan_sends + f_sends);
		CHECK_EQ(a.chan_recvs, sum.chan_recvs + f_recvs);
		CHECK_EQ(a.chan_select, sum.chan_select + f_select);
		*out = a;
		return;
	}
	CHECK(!"the statistics never held still");
}

/* the channel counters moved by exactly s, r, sel since *before */
static void chan_delta(ng_stats *before, uint64_t s, uint64_t r, uint64_t sel, const char *what)
{
	ng_stats now;
	snap(&now);
	fprintf(stderr, "%-26s sends +%llu recvs +%llu selects +%llu\n", what,
	        (unsigned long long)(now.chan_sends - before->chan_sends),
	        (unsigned long long)(now.chan_recvs - before->chan_recvs),
	        (unsigned long long)(now.chan_select - before->chan_select));
	CHECK_EQ(now.chan_sends - before->chan_sends, s);
	CHECK_EQ(now.chan_recvs - before->chan_recvs, r);
	CHECK_EQ(now.chan_select - before->chan_select, sel);
	*before = now;
}

static ng_waitgroup wg = NG_WAITGROUP_INIT;
static ng_chan *ca, *cb;
static int rounds;

static void echo(void *arg)
{
	(void)arg;
	int v;
	for (int i = 0; i < rounds; i++) {
		CHECK_EQ(ng_chan_recv(ca, &v), 0);
		CHECK_EQ(ng_chan_send(cb, &v), 0);
	}
	ng_waitgroup_done(&wg);
}

static void recv_one(void *arg)
{
	int v;
	CHECK_EQ(ng_chan_recv(arg, &v), 0);
	CHECK_EQ(v, 42);
	ng_waitgroup_done(&wg);
}

static void send_one(void *arg)
{
	int v = 42;
	CHECK_EQ(ng_chan_send(arg, &v), 0);
	ng_waitgroup_done(&wg);
}

static void *foreign(void *arg)
{
	ng_chan *c = arg;
	int v = 5;
	CHECK_EQ(ng_chan_send(c, &v), 0);
	CHECK_EQ(ng_chan_send(c, &v), 0);
	ng_case k = NG_RECV_CASE(c, &v);
	CHECK_EQ(ng_select(&k, 1, 0), 0);
	CHECK_EQ(k.rc, 0);
	CHECK_EQ(v, 1); /* the one main sent first */
	return NULL;
}

static void test_channels(void)
{
	ng_stats st;
	snap(&st);
	int v = 1;

	/* buffered: 2 sends, a failing try_send, 2 receives, a failing
	 * try_recv, a try_send and a try_recv that succeed */
	ng_chan *c = ng_chan_make(sizeof(int), 2);
	CHECK(c != NULL);
	CHECK_EQ(ng_chan_send(c, &v), 0);
	CHECK_EQ(ng_chan_send(c, &v), 0);
	CHECK_EQ(ng_chan_try_send(c, &v), -EAGAIN);
	CHECK_EQ(ng_chan_recv(c, &v), 0);
	CHECK_EQ(ng_chan_recv(c, &v), 0);
	CHECK_EQ(ng_chan_try_recv(c, &v), -EAGAIN);
	CHECK_EQ(ng_chan_try_send(c, &v), 0);
	CHECK_EQ(ng_chan_try_recv(c, &v), 0);
	chan_delta(&st, 3, 3, 0, "buffered");

	/* unbuffered ping-pong: every element is handed to a waiter (or taken
	 * from one), counted once for each side; failing tries first */
	ca = ng_chan_make(sizeof(int), 0);
	cb = ng_chan_make(sizeof(int), 0);
	CHECK(ca != NULL && cb != NULL);
	CHECK_EQ(ng_chan_try_send(ca, &v), -EAGAIN);
	CHECK_EQ(ng_chan_try_recv(ca, &v), -EAGAIN);
	rounds = 50;
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go(echo, NULL), 0);
	for (int i = 0; i < rounds; i++) {
		v = i;
		CHECK_EQ(ng_chan_send(ca, &v), 0);
		CHECK_EQ(ng_chan_recv(cb, &v), 0);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	chan_delta(&st, 2 * (uint64_t)rounds, 2 * (uint64_t)rounds, 0, "unbuffered ping-pong");

	/* try_send / try_recv that meet a blocked partner (the failed tries
	 * before it blocks count nothing) */
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go(recv_one, ca), 0);
	int rc, tries = 0;
	v = 42;
	while ((rc = ng_chan_try_send(ca, &v)) == -EAGAIN) {
		tries++;
		ng_yield();
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go(send_one, ca), 0);
	while ((rc = ng_chan_try_recv(ca, &v)) == -EAGAIN) {
		tries++;
		ng_yield();
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(v, 42);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	fprintf(stderr, "(%d failed tries)\n", tries);
	chan_delta(&st, 2, 2, 0, "unbuffered try_ ops");

	/* selects: a non-blocking send that runs, one that finds the buffer
	 * full, a blocking receive, a non-blocking and a timed one that find
	 * nothing, a blocking receive a goroutine's send completes, and one
	 * whose case finds its channel closed (the select ran a case; no
	 * element moved) */
	ng_chan *e = ng_chan_make(sizeof(int), 1);
	CHECK(e != NULL);
	ng_case k = NG_SEND_CASE(e, &v);
	CHECK_EQ(ng_select(&k, 1, 0), 0);
	CHECK_EQ(ng_select(&k, 1, 0), -EAGAIN);
	k = (ng_case)NG_RECV_CASE(e, &v);
	CHECK_EQ(ng_select(&k, 1, NG_FOREVER), 0);
	CHECK_EQ(ng_select(&k, 1, 0), -EAGAIN);
	CHECK_EQ(ng_select(&k, 1, ng_now() + 1000000), -ETIMEDOUT);
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go(send_one, ca), 0);
	ng_case two[2] = {NG_RECV_CASE(e, &v), NG_RECV_CASE(ca, &v)};
	CHECK_EQ(ng_select(two, 2, NG_FOREVER), 1);
	CHECK_EQ(two[1].rc, 0);
	CHECK_EQ(v, 42);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(ng_chan_close(e), 0);
	k = (ng_case)NG_RECV_CASE(e, &v);
	CHECK_EQ(ng_select(&k, 1, NG_FOREVER), 0);
	CHECK_EQ(k.rc, -EPIPE);
	chan_delta(&st, 2, 2, 4, "selects");

	/* closed: the buffered element is still received; then receives and
	 * sends fail */
	ng_chan *f = ng_chan_make(sizeof(int), 2);
	CHECK(f != NULL);
	CHECK_EQ(ng_chan_send(f, &v), 0);
	CHECK_EQ(ng_chan_close(f), 0);
	CHECK_EQ(ng_chan_recv(f, &v), 0);
	CHECK_EQ(ng_chan_recv(f, &v), -EPIPE);
	CHECK_EQ(ng_chan_try_recv(f, &v), -EPIPE);
	CHECK_EQ(ng_chan_send(f, &v), -EPIPE);
	CHECK_EQ(ng_chan_try_send(f, &v), -EPIPE);
	chan_delta(&st, 1, 1, 0, "closed");

	/* a foreign thread: 2 sends and a select that receives, in the totals
	 * but on no P (snap checks the per-P sums without them) */
	ng_chan *g = ng_chan_make(sizeof(int), 4);
	CHECK(g != NULL);
	v = 1;
	CHECK_EQ(ng_chan_send(g, &v), 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, foreign, g), 0);
	CHECK_EQ(ng_block_enter(), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(ng_block_exit(), 0);
	f_sends += 2;
	f_recvs += 1;
	f_select += 1;
	CHECK_EQ(ng_chan_recv(g, &v), 0);
	CHECK_EQ(ng_chan_recv(g, &v), 0);
	chan_delta(&st, 3, 3, 1, "foreign thread");

	ng_chan_release(c);
	ng_chan_release(ca);
	ng_chan_release(cb);
	ng_chan_release(e);
	ng_chan_release(f);
	ng_chan_release(g);
}

static void nothing(void *arg)
{
	(void)arg;
	ng_waitgroup_done(&wg);
}

static void test_switches(void)
{
	ng_stats a, b;
	snap(&a);
	const int n = 100;
	CHECK_EQ(ng_waitgroup_add(&wg, n), 0);
	for (int i = 0; i < n; i++)
		CHECK_EQ(ng_go(nothing, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	snap(&b);
	fprintf(stderr, "switches: +%llu for %d goroutines\n",
	        (unsigned long long)(b.switches - a.switches), n);
	CHECK(b.switches - a.switches >= (uint64_t)n);
}

static void test_parks_and_spin(void)
{
	ng_stats a, b;
	snap(&a);
	uint64_t dparks = 0, dspin = 0;
	for (int round = 0; round < 20 && (dparks == 0 || dspin == 0); round++) {
		/* work for both Ps, then none: the Ms spin (200 us) and park */
		CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
		CHECK_EQ(ng_go(nothing, NULL), 0);
		CHECK_EQ(ng_go(nothing, NULL), 0);
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		ng_sleep(20000000);
		snap(&b);
		dparks = b.parks - a.parks;
		dspin = b.spin_ns - a.spin_ns;
	}
	fprintf(stderr, "idle phases: parks +%llu, spin_ns +%llu\n", (unsigned long long)dparks,
	        (unsigned long long)dspin);
	CHECK(dparks > 0);
	CHECK(dspin > 0);
}

static void spin_us(int us)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < us * 1000L);
}

static void worker(void *arg)
{
	(void)arg;
	spin_us(10);
	ng_yield();
	spin_us(10);
	ng_waitgroup_done(&wg);
}

static void test_failed_steals(void)
{
	ng_stats a, b;
	snap(&a);
	b = a;
	int round = 0;
	for (; round < 500 && b.failed_steals == a.failed_steals; round++) {
		CHECK_EQ(ng_waitgroup_add(&wg, 100), 0);
		for (int i = 0; i < 100; i++)
			CHECK_EQ(ng_go(worker, NULL), 0);
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		ng_sleep(1000000);
		snap(&b);
	}
	fprintf(stderr, "failed steals: +%llu after %d bursts (steals +%llu)\n",
	        (unsigned long long)(b.failed_steals - a.failed_steals), round,
	        (unsigned long long)(b.steals - a.steals));
	CHECK(b.failed_steals > a.failed_steals);
	/* two Ps: every victim is the other P, in one class */
	int cls = ng_topo_distance(0, 1);
	CHECK(cls >= 0 && cls < NG_DIST_NCLASSES);
	for (int c = 0; c < NG_DIST_NCLASSES; c++)
		if (c != cls)
			CHECK_EQ(b.failed_steals_by_class[c], 0);
	CHECK_EQ(b.failed_steals_by_class[cls], b.failed_steals);
}

static int main_fn(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 2);
	test_channels();
	test_switches();
	test_parks_and_spin();
	test_failed_steals();
	return 0;
}

int main(void)
{
	CHECK_EQ(setenv("NUMAGO_DEBUG", "spin=200000", 0), 0);
	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), -ESRCH);
	CHECK_EQ(ng_stats_read(NULL), -EINVAL);
	ng_config cfg = {0};
	cfg.procs = 2;
	CHECK_EQ(ng_run(&cfg, main_fn, NULL), 0);
	printf("ok\n");
	return 0;
}
