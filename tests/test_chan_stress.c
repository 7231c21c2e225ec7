/* The two heavy tests of Go's runtime/chan_test.go, at Go's sizes:
 *
 *  - TestSelectStress (10 Ps): 4 channels (2 unbuffered, caps 2 and 3);
 *    per channel a goroutine sends N values and another receives N, while
 *    one more goroutine sends N on each of them from a single 4-case select
 *    and another receives N from each in a single select, dropping a case
 *    (Go's nil channel, NULL here) once its count is reached.  Everything
 *    interacts chaotically and must not deadlock: each of the 10 goroutines
 *    finishes (and the per-case counts add up).
 *  - TestMultiConsumer: 23 workers drain a work queue with `range`, some of
 *    them yielding, and forward to a result queue; a feeder closes the work
 *    queue, waits for the workers, and closes the results.  All 271,828
 *    values arrive, with the expected sum.
 */
#define _GNU_SOURCE
#include "chan_util.h"

#include <stdatomic.h>

/* ---- TestSelectStress ---- */

#define STRESS_N NG_TEST_SCALE(100000, 10000)

static ng_chan *sc[4];
static ng_waitgroup stress_wg = NG_WAITGROUP_INIT;

static void plain_sender(void *arg)
{
	int k = (int)(intptr_t)arg;
	for (int i = 0; i < STRESS_N; i++)
		send_int(sc[k], 0);
	ng_waitgroup_done(&stress_wg);
}

static void plain_receiver(void *arg)
{
	int k = (int)(intptr_t)arg;
	for (int i = 0; i < STRESS_N; i++)
		CHECK_EQ(ng_chan_recv(sc[k], NULL), 0);
	ng_waitgroup_done(&stress_wg);
}

static void select_sender(void *arg)
{
	(void)arg;
	int n[4] = {0};
	int zero = 0;
	/* Go's case order: c1[3], c1[2], c1[0], c1[1] */
	static const int order[4] = {3, 2, 0, 1};
	ng_case cs[4];
	for (int k = 0; k < 4; k++)
		cs[k] = NG_SEND_CASE(sc[order[k]], &zero);
	for (int i = 0; i < 4 * STRESS_N; i++) {
		int idx = ng_select(cs, 4, NG_FOREVER);
		CHECK(idx >= 0 && idx < 4);
		CHECK_EQ(cs[idx].rc, 0);
		if (++n[order[idx]] == STRESS_N)
			cs[idx].chan = NULL;
	}
	for (int k = 0; k < 4; k++)
		CHECK_EQ(n[k], STRESS_N);
	ng_waitgroup_done(&stress_wg);
}

static void select_receiver(void *arg)
{
	(void)arg;
	int n[4] = {0};
	ng_case cs[4];
	for (int k = 0; k < 4; k++)
		cs[k] = NG_RECV_CASE(sc[k], NULL);
	for (int i = 0; i < 4 * STRESS_N; i++) {
		int idx = ng_select(cs, 4, NG_FOREVER);
		CHECK(idx >= 0 && idx < 4);
		CHECK_EQ(cs[idx].rc, 0);
		if (++n[idx] == STRESS_N)
			cs[idx].chan = NULL;
	}
	for (int k = 0; k < 4; k++)
		CHECK_EQ(n[k], STRESS_N);
	ng_waitgroup_done(&stress_wg);
}

static int select_stress_main(void *arg)
{
	(void)arg;
	sc[0] = chan_make(sizeof(int), 0);
	sc[1] = chan_make(sizeof(int), 0);
	sc[2] = chan_make(sizeof(int), 2);
	sc[3] = chan_make(sizeof(int), 3);
	CHECK_EQ(ng_waitgroup_add(&stress_wg, 10), 0);
	for (int k = 0; k < 4; k++) {
		CHECK_EQ(ng_go(plain_sender, (void *)(intptr_t)k), 0);
		CHECK_EQ(ng_go(plain_receiver, (void *)(intptr_t)k), 0);
	}
	CHECK_EQ(ng_go(select_sender, NULL), 0);
	CHECK_EQ(ng_go(select_receiver, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&stress_wg), 0);
	for (int k = 0; k < 4; k++) {
		/* every value sent was received */
		CHECK_EQ(ng_chan_len(sc[k]), 0);
		ng_chan_release(sc[k]);
	}
	return 0;
}

/* ---- TestMultiConsumer ---- */

#define NWORK 23
#define NITER 271828

static const int pn[] = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
#define NPN ((int)(sizeof pn / sizeof pn[0]))

static ng_chan *q, *r;
static ng_waitgroup mc_wg = NG_WAITGROUP_INIT;
static ng_waitgroup feeder_wg = NG_WAITGROUP_INIT;
static long expect; /* written by the feeder before close(r), read after */

static void worker(void *arg)
{
	int w = (int)(intptr_t)arg;
	int v;
	while (ng_chan_recv(q, &v) == 0) {
		/* mess with the fifo-ish nature of range */
		if (pn[w % NPN] == v)
			ng_yield();
		send_int(r, v);
	}
	ng_waitgroup_done(&mc_wg);
}

static void feeder(void *arg)
{
	(void)arg;
	for (int i = 0; i < NITER; i++) {
		int v = pn[i % NPN];
		expect += v;
		send_int(q, v);
	}
	CHECK_EQ(ng_chan_close(q), 0);          /* no more work */
	CHECK_EQ(ng_waitgroup_wait(&mc_wg), 0); /* workers done */
	CHECK_EQ(ng_chan_close(r), 0);          /* ... so there can be no more results */
	ng_waitgroup_done(&feeder_wg);
}

static int multi_consumer_main(void *arg)
{
	(void)arg;
	q = chan_make(sizeof(int), NWORK * 3);
	r = chan_make(sizeof(int), NWORK * 3);
	for (int i = 0; i < NWORK; i++) {
		CHECK_EQ(ng_waitgroup_add(&mc_wg, 1), 0);
		CHECK_EQ(ng_go(worker, (void *)(intptr_t)i), 0);
	}
	CHECK_EQ(ng_waitgroup_add(&feeder_wg, 1), 0);
	CHECK_EQ(ng_go(feeder, NULL), 0);
	long n = 0, s = 0;
	int v;
	while (ng_chan_recv(r, &v) == 0) {
		n++;
		s += v;
	}
	if (n != NITER || s != expect)
		fprintf(stderr, "Expected sum %ld (got %ld) from %d iter (saw %ld)\n", expect, s,
		        NITER, n);
	CHECK_EQ(n, NITER);
	CHECK_EQ(s, expect);
	CHECK_EQ(ng_waitgroup_wait(&feeder_wg), 0);
	ng_chan_release(q);
	ng_chan_release(r);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ng_config cfg = {0};
	cfg.procs = 10; /* Go: runtime.GOMAXPROCS(10) */
	int64_t t0 = ng_now();
	CHECK_EQ(ng_run(&cfg, select_stress_main, NULL), 0);
	printf("TestSelectStress ok (%.2f s)\n", (double)(ng_now() - t0) / SEC);
	t0 = ng_now();
	CHECK_EQ(ng_run(NULL, multi_consumer_main, NULL), 0);
	printf("TestMultiConsumer ok (%.2f s)\n", (double)(ng_now() - t0) / SEC);
	printf("ok\n");
	return 0;
}
