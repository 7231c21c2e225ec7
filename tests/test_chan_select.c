/* Select tests of Go's runtime/chan_test.go, with Go's sizes and thresholds:
 *
 *  - TestNonblockRecvRace: a non-blocking receive on a channel that holds a
 *    value, racing with its close, always finds it ready (value or closed).
 *  - TestNonblockSelectRace / TestNonblockSelectRace2: a non-blocking select
 *    over c1 and c2 sees the channels at one instant: at least one of them
 *    is always ready (c2 filled, resp. closed, while c1 is emptied), so it
 *    never takes the default.
 *  - TestSelfSelect: selects with a send and a receive on the same channel,
 *    in two goroutines on 2 Ps, neither crash nor deadlock, and on an
 *    unbuffered channel a select never receives its own value.
 *  - TestSelectFairness: with two ready receive cases out of four, over
 *    10,000 selects, each is picked with frequency 0.5 within Go's
 *    six-nines margin 4.891676 / (2 * sqrt(10000)).
 *  - TestPseudoRandomSend: a select of two sends (1 and 0) on one channel,
 *    100 times: each value more than 10 times (cap 0 and cap 100).
 *  - TestSelectDuplicateChannel: a select waiting twice on the same channel
 *    and woken by another dequeues itself cleanly, so a later waiter on that
 *    channel still gets its value.
 *  - TestSelectStackAdjust (without the stack shrinking numago does not do):
 *    when a select is woken by a close, only the chosen case's destination
 *    is written; a local that an unchosen receive case points at keeps its
 *    value.
 *  - TestChanSendInterface: select sends on a full channel with a default
 *    do not block.
 */
#define _GNU_SOURCE
#include "chan_util.h"

#include <stdatomic.h>
#include <stdbool.h>

/* ---- TestNonblockRecvRace ---- */

typedef struct nbrr_job {
	ng_chan *c;
	int use_try;
} nbrr_job;

static void nonblock_receiver(void *p)
{
	nbrr_job *j = p;
	int v = 0, rc;
	if (j->use_try) {
		rc = ng_chan_try_recv(j->c, &v);
	} else {
		ng_case cs[1] = {NG_RECV_CASE(j->c, &v)};
		int idx = ng_select(cs, 1, 0);
		if (idx == -EAGAIN)
			rc = -EAGAIN;
		else {
			CHECK_EQ(idx, 0);
			rc = cs[0].rc;
		}
	}
	if (rc == -EAGAIN)
		fprintf(stderr, "TestNonblockRecvRace: chan is not ready\n");
	CHECK(rc == 0 || rc == -EPIPE);
	CHECK_EQ(v, rc == 0 ? 1 : 0);
	ng_chan_release(j->c);
}

static void nonblock_recv_race(void)
{
	const int n = NG_TEST_SCALE(10000, 1000);
	for (int i = 0; i < n; i++) {
		ng_chan *c = chan_make(sizeof(int), 1);
		send_int(c, 1);
		ng_chan_retain(c);
		GO(nonblock_receiver, (nbrr_job){c, i & 1});
		CHECK_EQ(ng_chan_close(c), 0);
		int v = -1;
		int rc = ng_chan_recv(c, &v);
		CHECK(rc == 0 || rc == -EPIPE);
		ng_chan_release(c);
	}
}

/* ---- TestNonblockSelectRace, TestNonblockSelectRace2 ---- */

typedef struct nbsr_job {
	ng_chan *c1, *c2, *done;
} nbsr_job;

static void nonblock_selector(void *p)
{
	nbsr_job *j = p;
	int v;
	ng_case cs[2] = {NG_RECV_CASE(j->c1, &v), NG_RECV_CASE(j->c2, &v)};
	bool ok = ng_select(cs, 2, 0) >= 0;
	ng_chan_release(j->c1);
	ng_chan_release(j->c2);
	CHECK_EQ(ng_chan_send(j->done, &ok), 0);
	ng_chan_release(j->done);
}

static void nonblock_select_race(int close_c2)
{
	const int n = NG_TEST_SCALE(100000, 1000);
	ng_chan *done = chan_make(sizeof(bool), 1);
	for (int i = 0; i < n; i++) {
		ng_chan *c1 = chan_make(sizeof(int), 1);
		ng_chan *c2 = chan_make(sizeof(int), close_c2 ? 0 : 1);
		send_int(c1, 1);
		ng_chan_retain(c1);
		ng_chan_retain(c2);
		ng_chan_retain(done);
		GO(nonblock_selector, (nbsr_job){c1, c2, done});
		if (close_c2)
			CHECK_EQ(ng_chan_close(c2), 0);
		else
			send_int(c2, 1);
		int v;
		ng_case cs[1] = {NG_RECV_CASE(c1, &v)};
		int idx = ng_select(cs, 1, 0);
		CHECK(idx == 0 || idx == -EAGAIN);
		bool ok = false;
		CHECK_EQ(ng_chan_recv(done, &ok), 0);
		if (!ok)
			fprintf(stderr,
			        "TestNonblockSelectRace%s: no chan is ready (iteration %d)\n",
			        close_c2 ? "2" : "", i);
		CHECK(ok);
		ng_chan_release(c1);
		ng_chan_release(c2);
	}
	ng_chan_release(done);
}

/* ---- TestSelfSelect ---- */

typedef struct self_job {
	ng_chan *c;
	int p;
	size_t cap;
	ng_waitgroup *wg;
} self_job;

static void self_selector(void *arg)
{
	self_job *j = arg;
	int p = j->p;
	for (int i = 0; i < 1000; i++) {
		int v = -1;
		ng_case cs[2];
		int recv_at;
		/* both case orders, as Go's two select statements */
		if (p == 0 || i % 2 == 0) {
			cs[0] = NG_SEND_CASE(j->c, &p);
			cs[1] = NG_RECV_CASE(j->c, &v);
			recv_at = 1;
		} else {
			cs[0] = NG_RECV_CASE(j->c, &v);
			cs[1] = NG_SEND_CASE(j->c, &p);
			recv_at = 0;
		}
		int idx = ng_select(cs, 2, NG_FOREVER);
		CHECK(idx == 0 || idx == 1);
		CHECK_EQ(cs[idx].rc, 0);
		if (idx == recv_at && j->cap == 0 && v == p) {
			fprintf(stderr, "TestSelfSelect: self receive (goroutine %d)\n", p);
			CHECK(0);
		}
	}
	ng_waitgroup_done(j->wg);
}

static int self_select_main(void *arg)
{
	(void)arg;
	static const size_t caps[] = {0, 10};
	for (int k = 0; k < 2; k++) {
		ng_waitgroup wg = NG_WAITGROUP_INIT;
		CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
		ng_chan *c = chan_make(sizeof(int), caps[k]);
		for (int p = 0; p < 2; p++)
			GO(self_selector, (self_job){c, p, caps[k], &wg});
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		ng_chan_release(c);
	}
	return 0;
}

/* ---- TestSelectFairness ---- */

#define TRIALS 10000

typedef struct fair_job {
	ng_chan *c1, *c2, *c3, *c4, *out, *done;
	ng_waitgroup *wg;
} fair_job;

static void fair_selector(void *arg)
{
	fair_job *j = arg;
	for (;;) {
		unsigned char b = 0;
		ng_case in[4] = {NG_RECV_CASE(j->c3, &b), NG_RECV_CASE(j->c4, &b),
		                 NG_RECV_CASE(j->c1, &b), NG_RECV_CASE(j->c2, &b)};
		int idx = ng_select(in, 4, NG_FOREVER);
		CHECK(idx == 2 || idx == 3);
		CHECK_EQ(in[idx].rc, 0);
		ng_case out[2] = {NG_SEND_CASE(j->out, &b), NG_RECV_CASE(j->done, NULL)};
		idx = ng_select(out, 2, NG_FOREVER);
		if (idx == 1) {
			CHECK_EQ(out[1].rc, -EPIPE);
			break;
		}
		CHECK_EQ(idx, 0);
	}
	ng_waitgroup_done(j->wg);
}

static void select_fairness(void)
{
	ng_chan *c1 = chan_make(1, TRIALS + 1), *c2 = chan_make(1, TRIALS + 1);
	for (int i = 0; i < TRIALS + 1; i++) {
		unsigned char one = 1, two = 2;
		CHECK_EQ(ng_chan_send(c1, &one), 0);
		CHECK_EQ(ng_chan_send(c2, &two), 0);
	}
	ng_chan *c3 = chan_make(1, 0), *c4 = chan_make(1, 0);
	ng_chan *out = chan_make(1, 0), *done = chan_make(1, 0);
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	GO(fair_selector, (fair_job){c1, c2, c3, c4, out, done, &wg});
	int cnt1 = 0, cnt2 = 0;
	for (int i = 0; i < TRIALS; i++) {
		unsigned char b = 0;
		CHECK_EQ(ng_chan_recv(out, &b), 0);
		if (b == 1)
			cnt1++;
		else if (b == 2)
			cnt2++;
		else {
			fprintf(stderr, "unexpected value %d on channel\n", b);
			CHECK(0);
		}
	}
	double r = (double)cnt1 / TRIALS;
	double e = r > 0.5 ? r - 0.5 : 0.5 - r;
	const double bound = 4.891676 / (2 * 100.0); /* 2 * sqrt(TRIALS) */
	printf("TestSelectFairness: %d %d r=%.4f e=%.4f (bound %.4f)\n", cnt1, cnt2, r, e, bound);
	if (e > bound)
		fprintf(stderr, "unfair select: in %d trials, results were %d, %d\n", TRIALS, cnt1,
		        cnt2);
	CHECK(e <= bound);
	CHECK_EQ(ng_chan_close(done), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	ng_chan_release(c1);
	ng_chan_release(c2);
	ng_chan_release(c3);
	ng_chan_release(c4);
	ng_chan_release(out);
	ng_chan_release(done);
}

/* ---- TestChanSendInterface ---- */

static void chan_send_interface(void)
{
	int mt, mt2;
	int *m = &mt;
	ng_chan *c = chan_make(sizeof(int *), 1);
	CHECK_EQ(ng_chan_send(c, &m), 0);
	ng_case one[1] = {NG_SEND_CASE(c, &m)};
	CHECK_EQ(ng_select(one, 1, 0), -EAGAIN);
	int *m2 = &mt2;
	ng_case two[2] = {NG_SEND_CASE(c, &m), NG_SEND_CASE(c, &m2)};
	CHECK_EQ(ng_select(two, 2, 0), -EAGAIN);
	int *got = NULL;
	CHECK_EQ(ng_chan_recv(c, &got), 0);
	CHECK(got == &mt);
	ng_chan_release(c);
}

/* ---- TestPseudoRandomSend ---- */

typedef struct prs_job {
	ng_chan *c;
	int *l;
	int n;
	ng_waitgroup *wg;
} prs_job;

static void prs_receiver(void *arg)
{
	prs_job *j = arg;
	for (int i = 0; i < j->n; i++) {
		ng_yield();
		CHECK_EQ(ng_chan_recv(j->c, &j->l[i]), 0);
	}
	ng_waitgroup_done(j->wg);
}

static void pseudo_random_send(void)
{
	enum { n = 100 };
	static const size_t caps[] = {0, n};
	for (int k = 0; k < 2; k++) {
		ng_chan *c = chan_make(sizeof(int), caps[k]);
		int l[n];
		ng_waitgroup wg = NG_WAITGROUP_INIT;
		CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
		GO(prs_receiver, (prs_job){c, l, n, &wg});
		for (int i = 0; i < n; i++) {
			int one = 1, zero = 0;
			ng_case cs[2] = {NG_SEND_CASE(c, &one), NG_SEND_CASE(c, &zero)};
			int idx = ng_select(cs, 2, NG_FOREVER);
			CHECK(idx == 0 || idx == 1);
			CHECK_EQ(cs[idx].rc, 0);
		}
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		int n0 = 0, n1 = 0;
		for (int i = 0; i < n; i++) {
			CHECK(l[i] == 0 || l[i] == 1);
			n0 += (l[i] + 1) % 2;
			n1 += l[i];
		}
		if (n0 <= n / 10 || n1 <= n / 10)
			fprintf(stderr,
			        "Want pseudorandom, got %d zeros and %d ones (chan cap %zu)\n", n0,
			        n1, caps[k]);
		CHECK(n0 > n / 10 && n1 > n / 10);
		ng_chan_release(c);
	}
}

/* ---- TestSelectDuplicateChannel ---- */

typedef struct dup_job {
	ng_chan *c, *d, *e;
	int *got;
	ng_waitgroup *wg;
} dup_job;

static void dup_a(void *arg)
{
	dup_job *j = arg;
	int v = -1;
	ng_case cs[3] = {NG_RECV_CASE(j->c, &v), NG_RECV_CASE(j->c, &v), NG_RECV_CASE(j->d, &v)};
	int idx = ng_select(cs, 3, NG_FOREVER);
	CHECK_EQ(idx, 2);
	CHECK_EQ(cs[2].rc, 0);
	CHECK_EQ(v, 7);
	send_int(j->e, 9);
	ng_waitgroup_done(j->wg);
}

static void dup_b(void *arg)
{
	dup_job *j = arg;
	*j->got = recv_int(j->c);
	ng_waitgroup_done(j->wg);
}

static void select_duplicate_channel(void)
{
	ng_chan *c = chan_make(sizeof(int), 0), *d = chan_make(sizeof(int), 0),
	        *e = chan_make(sizeof(int), 0);
	int got_b = -1;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
	GO(dup_a, (dup_job){c, d, e, NULL, &wg});
	ng_sleep(MS); /* A queues first on c, twice */
	GO(dup_b, (dup_job){c, d, e, &got_b, &wg});
	ng_sleep(MS);   /* then B */
	send_int(d, 7); /* wakes A, which dequeues itself from c */
	CHECK_EQ(recv_int(e), 9);
	/* Go: this used to find a corrupted c.recvq and wake A again */
	int eight = 8;
	CHECK_EQ(ng_chan_send_until(c, &eight, ng_now() + 10 * SEC), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(got_b, 8);
	ng_chan_release(c);
	ng_chan_release(d);
	ng_chan_release(e);
}

/* ---- TestSelectStackAdjust ---- */

typedef struct adj_job {
	ng_chan *c, *d, *ready;
	int dup;
} adj_job;

static void adj_selector(void *arg)
{
	adj_job *j = arg;
	bool t = true;
	CHECK_EQ(ng_chan_send(j->ready, &t), 0);
	int val = 42;
	int *cx = &val;
	ng_chan *c2 = j->dup ? j->c : NULL, *d2 = j->dup ? j->d : NULL;
	ng_case cs[4] = {NG_RECV_CASE(j->c, &cx), NG_RECV_CASE(c2, NULL), NG_RECV_CASE(j->d, NULL),
	                 NG_RECV_CASE(d2, NULL)};
	int idx = ng_select(cs, 4, NG_FOREVER);
	/* woken by close(d): case 2 or, when it duplicates d, case 3 */
	CHECK(idx == 2 || (j->dup && idx == 3));
	CHECK_EQ(cs[idx].rc, -EPIPE);
	if (cx != &val)
		fprintf(stderr, "cx no longer points to val\n");
	CHECK(cx == &val);
	CHECK_EQ(val, 42);
	*cx = 43;
	CHECK_EQ(val, 43);
	CHECK_EQ(ng_chan_send(j->ready, &t), 0);
	ng_chan_release(j->ready);
}

static void select_stack_adjust(void)
{
	ng_chan *c = chan_make(sizeof(int *), 0), *d = chan_make(sizeof(int *), 0);
	ng_chan *ready1 = chan_make(sizeof(bool), 0), *ready2 = chan_make(sizeof(bool), 0);
	ng_chan_retain(ready1);
	ng_chan_retain(ready2);
	GO(adj_selector, (adj_job){c, d, ready1, 0});
	GO(adj_selector, (adj_job){c, d, ready2, 1});
	bool t;
	CHECK_EQ(ng_chan_recv(ready1, &t), 0);
	CHECK_EQ(ng_chan_recv(ready2, &t), 0);
	ng_sleep(10 * MS); /* let them get into the select */
	CHECK_EQ(ng_chan_close(d), 0);
	CHECK_EQ(ng_chan_recv(ready1, &t), 0);
	CHECK_EQ(ng_chan_recv(ready2, &t), 0);
	/* both selects returned before the ready sends */
	ng_chan_release(c);
	ng_chan_release(d);
	ng_chan_release(ready1);
	ng_chan_release(ready2);
}

static void done(const char *what, int64_t *t0)
{
	int64_t now = ng_now();
	printf("%s ok (%.2f s)\n", what, (double)(now - *t0) / SEC);
	*t0 = now;
}

static int test_main(void *arg)
{
	(void)arg;
	int64_t t0 = ng_now();
	nonblock_recv_race();
	done("TestNonblockRecvRace", &t0);
	nonblock_select_race(0);
	done("TestNonblockSelectRace", &t0);
	nonblock_select_race(1);
	done("TestNonblockSelectRace2", &t0);
	select_fairness();
	done("TestSelectFairness", &t0);
	chan_send_interface();
	pseudo_random_send();
	done("TestPseudoRandomSend", &t0);
	select_duplicate_channel();
	done("TestSelectDuplicateChannel", &t0);
	select_stack_adjust();
	done("TestSelectStackAdjust", &t0);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_EQ(ng_run(NULL, test_main, NULL), 0);
	ng_config cfg = {0};
	cfg.procs = 2; /* Go: runtime.GOMAXPROCS(2) */
	int64_t t0 = ng_now();
	CHECK_EQ(ng_run(&cfg, self_select_main, NULL), 0);
	done("TestSelfSelect", &t0);
	printf("ok\n");
	return 0;
}
