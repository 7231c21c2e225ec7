/* Deadlines on every blocking channel call and on select, and channels
 * shared between goroutines and foreign threads (plain pthreads, which
 * block their OS thread where a goroutine parks).
 *
 * Each part runs its operations in a goroutine and in a foreign thread, and
 * pairs each with a partner of either kind:
 *  1. Timeouts: recv_until on an empty channel (cap 0 and 1), send_until
 *     with no receiver or a full buffer, select with send and receive
 *     cases, with only NULL cases and with none, and a deadline already
 *     past: -ETIMEDOUT, returned no earlier than the deadline (and not
 *     absurdly late); a send that timed out left nothing in the channel.
 *  2. A value, a receiver or a close that comes before the deadline (the
 *     partner acts after 20 ms, the deadline is 10 s away) is what the call
 *     returns: 0 with the value, or -EPIPE; never -ETIMEDOUT.
 *  3. Races at the deadline: sender and receiver start at random times
 *     within a few hundred microseconds of each other with random short
 *     deadlines, hundreds of times, plain calls and selects, cap 0 and 1.
 *     Every value whose send returned 0 is received exactly once (draining
 *     the buffer at the end), and no value whose send timed out ever is:
 *     nothing lost, nothing duplicated.
 *  4. Plain blocking calls across the boundary: 1000 round trips between a
 *     thread and a goroutine, both directions.
 * Parts 1-4 run inside ng_run (threads created by the main goroutine) and
 * again with the runtime embedded (ng_start/ng_stop: the process's main
 * thread is itself foreign and drives everything). */
#define _GNU_SOURCE
#include "chan_util.h"

#include <stdatomic.h>
#include <stdbool.h>

static const char *const where[2] = {"goroutine", "thread"};

/* ---- 1. timeouts ---- */

/* Sanitizers and loaded machines can be late, but not by this much. */
#define MAX_LATE (3 * SEC)

#define EXPECT_TIMEOUT(what, d, call)                                                             \
	do {                                                                                      \
		int64_t dl = ng_now() + (d);                                                      \
		int rc_ = (call);                                                                 \
		int64_t now_ = ng_now();                                                          \
		if (rc_ != -ETIMEDOUT || now_ < dl || now_ - dl > MAX_LATE)                       \
			fprintf(stderr, "%s: rc %d, returned %lld ns after the deadline\n", what, \
			        rc_, (long long)(now_ - dl));                                     \
		CHECK_EQ(rc_, -ETIMEDOUT);                                                        \
		CHECK(now_ >= dl);                                                                \
		CHECK(now_ - dl <= MAX_LATE);                                                     \
	} while (0)

static void timeouts(void *arg)
{
	(void)arg;
	const int64_t D = 20 * MS;
	ng_chan *c0 = chan_make(sizeof(int), 0), *c1 = chan_make(sizeof(int), 1);
	int v = 7;

	EXPECT_TIMEOUT("recv_until, cap 0", D, ng_chan_recv_until(c0, &v, dl));
	EXPECT_TIMEOUT("recv_until, cap 1", D, ng_chan_recv_until(c1, &v, dl));
	CHECK_EQ(v, 7);
	EXPECT_TIMEOUT("send_until, cap 0", D, ng_chan_send_until(c0, &v, dl));
	CHECK_EQ(ng_chan_try_recv(c0, &v), -EAGAIN);
	send_int(c1, 1);
	v = 2;
	EXPECT_TIMEOUT("send_until, full cap 1", D, ng_chan_send_until(c1, &v, dl));
	CHECK_EQ(ng_chan_len(c1), 1);

	int w = 9;
	ng_case both[2] = {NG_SEND_CASE(c0, &v), NG_RECV_CASE(c0, &w)};
	EXPECT_TIMEOUT("select send+recv, cap 0", D, ng_select(both, 2, dl));
	CHECK_EQ(w, 9);
	CHECK_EQ(ng_chan_try_recv(c0, &v), -EAGAIN);
	ng_case full[2] = {NG_SEND_CASE(c1, &v), NG_RECV_CASE(c0, &w)};
	EXPECT_TIMEOUT("select send to full + recv", D, ng_select(full, 2, dl));
	ng_case nils[2] = {NG_SEND_CASE(NULL, &v), NG_RECV_CASE(NULL, &w)};
	EXPECT_TIMEOUT("select of NULL cases", D, ng_select(nils, 2, dl));
	EXPECT_TIMEOUT("select of no cases", D, ng_select(nils, 0, dl));

	/* a deadline that has already passed (0 would mean "do not block") */
	EXPECT_TIMEOUT("recv_until, past deadline", -MS, ng_chan_recv_until(c0, &v, dl));
	EXPECT_TIMEOUT("send_until, past deadline", -MS, ng_chan_send_until(c1, &v, dl));
	EXPECT_TIMEOUT("select, past deadline", -MS, ng_select(both, 2, dl));

	/* only the buffered value, once */
	CHECK_EQ(ng_chan_len(c1), 1);
	CHECK_EQ(recv_int(c1), 1);
	CHECK_EQ(ng_chan_try_recv(c1, &v), -EAGAIN);
	ng_chan_release(c0);
	ng_chan_release(c1);
}

/* ---- 2. what arrives before the deadline is delivered ---- */

enum op { OP_SEND, OP_RECV, OP_SEL_SEND, OP_SEL_RECV, OP_CLOSE };
static const char *const op_name[] = {"send", "recv", "select send", "select recv", "close"};

/* Nobody sends on it: the dummy case of every select here receives from
 * it (a dummy send would pair with another select's dummy receive). */
static ng_chan *never;

typedef struct opjob {
	ng_chan *c;
	enum op op;
	int value;    /* to send */
	int64_t wait; /* before acting */
	int64_t rel;  /* deadline from the start of the call; -1: NG_FOREVER */
	int rc, got;
	int64_t deadline, t_done;
} opjob;

static int select_rc(ng_case *cs, int64_t deadline)
{
	int idx = ng_select(cs, 2, deadline);
	if (idx < 0)
		return idx;
	if (idx != 0)
		fprintf(stderr, "select chose the case on a channel nobody uses: %d (rc %d)\n", idx,
		        cs[idx].rc);
	CHECK_EQ(idx, 0); /* never the case on `never` */
	return cs[0].rc;
}

static void do_op(void *p)
{
	opjob *j = p;
	if (j->wait > 0)
		ng_sleep(j->wait);
	j->deadline = j->rel < 0 ? NG_FOREVER : ng_now() + j->rel;
	j->got = -1;
	switch (j->op) {
	case OP_SEND:
		j->rc = j->rel < 0 ? ng_chan_send(j->c, &j->value)
		                   : ng_chan_send_until(j->c, &j->value, j->deadline);
		break;
	case OP_RECV:
		j->rc = j->rel < 0 ? ng_chan_recv(j->c, &j->got)
		                   : ng_chan_recv_until(j->c, &j->got, j->deadline);
		break;
	case OP_SEL_SEND: {
		ng_case cs[2] = {NG_SEND_CASE(j->c, &j->value), NG_RECV_CASE(never, NULL)};
		j->rc = select_rc(cs, j->deadline);
		break;
	}
	case OP_SEL_RECV: {
		ng_case cs[2] = {NG_RECV_CASE(j->c, &j->got), NG_RECV_CASE(never, NULL)};
		j->rc = select_rc(cs, j->deadline);
		break;
	}
	case OP_CLOSE:
		j->rc = ng_chan_close(j->c);
		break;
	}
	j->t_done = ng_now();
}

static void before_deadline(int tested_in, int partner_in, size_t cap, enum op op,
                            enum op partner_op)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	bool sending = op == OP_SEND || op == OP_SEL_SEND;
	if (sending && cap > 0)
		send_int(c, 100); /* full: the send must wait for the partner */
	opjob t = {.c = c, .op = op, .value = 43, .rel = 10 * SEC};
	opjob p = {.c = c, .op = partner_op, .value = 42, .wait = 20 * MS, .rel = -1};
	task tt, pt;
	task_start(&tt, tested_in, do_op, &t);
	task_start(&pt, partner_in, do_op, &p);
	task_wait(&tt);
	task_wait(&pt);
	int want = partner_op == OP_CLOSE ? -EPIPE : 0;
	if (t.rc != want)
		fprintf(stderr, "%s in a %s (cap %zu), %s by a %s after 20 ms: rc %d\n",
		        op_name[op], where[tested_in], cap, op_name[partner_op], where[partner_in],
		        t.rc);
	CHECK_EQ(t.rc, want);
	CHECK(t.t_done < t.deadline);
	CHECK_EQ(p.rc, 0);
	if (partner_op == OP_CLOSE) {
		if (!sending)
			CHECK_EQ(t.got, 0);
		else if (cap > 0)
			CHECK_EQ(recv_int(c), 100); /* the refused value did not get in */
	} else if (sending) {
		/* the partner got the buffered value first, if any, then ours */
		if (cap > 0) {
			CHECK_EQ(p.got, 100);
			CHECK_EQ(recv_int(c), 43);
		} else {
			CHECK_EQ(p.got, 43);
		}
	} else {
		CHECK_EQ(t.got, 42);
	}
	ng_chan_release(c);
}

static void all_before_deadline(void)
{
	static const enum op ops[] = {OP_SEND, OP_RECV, OP_SEL_SEND, OP_SEL_RECV};
	for (int ti = 0; ti < 2; ti++)
		for (int pi = 0; pi < 2; pi++)
			for (size_t cap = 0; cap < 2; cap++)
				for (int k = 0; k < 4; k++) {
					enum op op = ops[k];
					bool sending = op == OP_SEND || op == OP_SEL_SEND;
					before_deadline(ti, pi, cap, op,
					                sending ? OP_RECV : OP_SEND);
					before_deadline(ti, pi, cap, op, OP_CLOSE);
				}
}

/* ---- 3. races at the deadline ---- */

#define RACE_ITERS NG_TEST_SCALE(300, 150)
#define RACE_STEP  (1 * MS)
#define RACE_SPAN  (300 * US)

typedef struct race_side {
	ng_chan *c;
	int64_t base;
	int sender;
	uint32_t seed;
	int n_ok;
	unsigned char ok[RACE_ITERS]; /* sender: value i was sent */
	int got[RACE_ITERS];          /* receiver: values received, in order */
} race_side;

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void race_body(void *p)
{
	race_side *s = p;
	uint32_t r = s->seed;
	for (int i = 0; i < RACE_ITERS; i++) {
		int64_t start = s->base + i * RACE_STEP + rnd(&r) % RACE_SPAN;
		int64_t dl = start + 1 + rnd(&r) % RACE_SPAN;
		ng_sleep_until(start);
		/* plain calls and selects in all four pairings */
		bool sel = s->sender ? (i & 1) : (i & 2);
		int v = i, rc;
		if (s->sender && sel) {
			ng_case cs[2] = {NG_SEND_CASE(s->c, &v), NG_RECV_CASE(never, NULL)};
			rc = select_rc(cs, dl);
		} else if (s->sender) {
			rc = ng_chan_send_until(s->c, &v, dl);
		} else if (sel) {
			ng_case cs[2] = {NG_RECV_CASE(s->c, &v), NG_RECV_CASE(never, NULL)};
			rc = select_rc(cs, dl);
		} else {
			rc = ng_chan_recv_until(s->c, &v, dl);
		}
		CHECK(rc == 0 || rc == -ETIMEDOUT);
		if (rc == -ETIMEDOUT)
			CHECK(ng_now() >= dl);
		if (s->sender)
			s->ok[i] = rc == 0;
		else if (rc == 0)
			s->got[s->n_ok] = v;
		s->n_ok += rc == 0;
	}
}

static void deadline_race(int sender_in, int receiver_in, size_t cap)
{
	static race_side snd, rcv;
	ng_chan *c = chan_make(sizeof(int), cap);
	int64_t base = ng_now() + 5 * MS;
	memset(&snd, 0, sizeof snd);
	memset(&rcv, 0, sizeof rcv);
	snd = (race_side){.c = c, .base = base, .sender = 1, .seed = 12345u + (uint32_t)cap};
	rcv = (race_side){.c = c, .base = base, .sender = 0, .seed = 777u + (uint32_t)cap};
	task st, rt;
	task_start(&st, sender_in, race_body, &snd);
	task_start(&rt, receiver_in, race_body, &rcv);
	task_wait(&st);
	task_wait(&rt);
	int n = rcv.n_ok;
	int v;
	while (ng_chan_try_recv(c, &v) == 0) {
		CHECK(n < RACE_ITERS);
		rcv.got[n++] = v;
	}
	/* FIFO, each value once, exactly the ones whose send returned 0 */
	int k = 0;
	for (int i = 0; i < RACE_ITERS; i++) {
		if (!snd.ok[i])
			continue;
		if (k >= n || rcv.got[k] != i)
			fprintf(stderr,
			        "deadline race (sender in a %s, receiver in a %s, cap %zu): "
			        "value %d was sent but %s\n",
			        where[sender_in], where[receiver_in], cap, i,
			        k >= n ? "never received" : "received out of place");
		CHECK(k < n);
		CHECK_EQ(rcv.got[k], i);
		k++;
	}
	if (k != n)
		fprintf(stderr, "deadline race: %d values received, %d sends succeeded\n", n, k);
	CHECK_EQ(k, n);
	printf("deadline race, sender in a %s, receiver in a %s, cap %zu: %d of %d sent\n",
	       where[sender_in], where[receiver_in], cap, snd.n_ok, RACE_ITERS);
	/* the windows overlap often enough that some must meet */
	CHECK(snd.n_ok > 0);
	ng_chan_release(c);
}

/* ---- 4. plain blocking round trips ---- */

typedef struct pp_job {
	ng_chan *ping, *pong;
	int n;
} pp_job;

static void ponger(void *p)
{
	pp_job *j = p;
	int v;
	while (ng_chan_recv(j->ping, &v) == 0)
		send_int(j->pong, v + 1);
	/* the pinger closed ping: close pong in turn */
	CHECK_EQ(ng_chan_close(j->pong), 0);
}

static void pinger(void *p)
{
	pp_job *j = p;
	for (int i = 0; i < j->n; i++) {
		send_int(j->ping, 2 * i);
		CHECK_EQ(recv_int(j->pong), 2 * i + 1);
	}
	CHECK_EQ(ng_chan_close(j->ping), 0);
	int v = 5;
	CHECK_EQ(ng_chan_recv(j->pong, &v), -EPIPE);
	CHECK_EQ(v, 0);
}

static void ping_pong(int pinger_in, int ponger_in)
{
	pp_job j = {chan_make(sizeof(int), 0), chan_make(sizeof(int), 0), 1000};
	task a, b;
	task_start(&a, ponger_in, ponger, &j);
	task_start(&b, pinger_in, pinger, &j);
	task_wait(&b);
	task_wait(&a);
	ng_chan_release(j.ping);
	ng_chan_release(j.pong);
}

static void all_parts(const char *how)
{
	never = chan_make(sizeof(int), 0);
	for (int w = 0; w < 2; w++)
		run_in(w, timeouts, NULL);
	printf("%s: timeouts ok\n", how);
	all_before_deadline();
	printf("%s: values before the deadline ok\n", how);
	for (int s = 0; s < 2; s++)
		for (int r = 0; r < 2; r++)
			for (size_t cap = 0; cap < 2; cap++)
				deadline_race(s, r, cap);
	printf("%s: deadline races ok\n", how);
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 2; b++)
			ping_pong(a, b);
	printf("%s: round trips ok\n", how);
	ng_chan_release(never);
}

static int test_main(void *arg)
{
	(void)arg;
	/* the calling goroutine itself, too */
	timeouts(NULL);
	all_parts("ng_run");
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_EQ(ng_run(NULL, test_main, NULL), 0);

	CHECK_EQ(ng_start(NULL), 0);
	CHECK_EQ(ng_id(), 0);
	timeouts(NULL); /* on the process's main thread, a foreign thread */
	all_parts("ng_start");
	CHECK_EQ(ng_stop(), 0);
	printf("ok\n");
	return 0;
}
