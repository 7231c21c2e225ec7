/* ng_cond: Go's sync.Cond over an ng_mutex, with deadlines.
 *
 *  1. API errors: NULL cond or mutex is -EINVAL; waiting without holding
 *     the mutex is -EPERM (and nothing is left queued).
 *  2. TestCondSignal: each signal wakes exactly one of two waiters.
 *  3. TestCondSignalGenerations: signals wake waiters in the order they
 *     started waiting (100 goroutines, one at a time).
 *  4. TestCondBroadcast: 200 goroutines, 200 rounds: a broadcast wakes every
 *     waiter exactly once, and none before it.
 *  5. TestRace: the three-goroutine hand-over of x = 1, 2, 3.
 *  6. TestCondSignalStealing: a waiter that was in Wait before a broadcast
 *     is woken even when another goroutine starts waiting concurrently.
 *  7. Deadlines, in a goroutine and in a pthread: wait_until returns
 *     -ETIMEDOUT no earlier than the deadline, holding the mutex again, and
 *     only once it could get it (a holder that keeps it 50 ms past the
 *     deadline delays the return); a signal before the deadline returns 0.
 *  8. A waiter whose deadline passed does not swallow a signal: the signal
 *     reaches the other waiter.
 *  9. Foreign threads wait and signal normally (a pthread waits, a
 *     goroutine broadcasts; a goroutine waits, a pthread signals).
 */
#define _GNU_SOURCE
#include "sync_util.h"

/* ---- 1. errors ---- */

static void test_errors(void)
{
	ng_cond c = NG_COND_INIT;
	ng_mutex m = NG_MUTEX_INIT;
	CHECK_EQ(ng_cond_wait(NULL, &m), -EINVAL);
	CHECK_EQ(ng_cond_wait(&c, NULL), -EINVAL);
	CHECK_EQ(ng_cond_wait_until(NULL, &m, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_cond_wait_until(&c, NULL, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_cond_signal(NULL), -EINVAL);
	CHECK_EQ(ng_cond_broadcast(NULL), -EINVAL);
	CHECK_EQ(ng_cond_wait(&c, &m), -EPERM);
	CHECK_EQ(ng_cond_wait_until(&c, &m, ng_now() + MS), -EPERM);
	CHECK(c.q.head == NULL);
	CHECK_EQ(ng_cond_signal(&c), 0); /* nobody waits: no-op */
	CHECK_EQ(ng_cond_broadcast(&c), 0);
	CHECK_EQ(m.state, 0);
}

/* ---- 2. signal ---- */

static ng_mutex sig_m = NG_MUTEX_INIT; /* static initialisers */
static ng_cond sig_c = NG_COND_INIT;
static _Atomic int sig_running, sig_awake;

static void sig_waiter(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_mutex_lock(&sig_m), 0);
	atomic_fetch_add(&sig_running, 1);
	CHECK_EQ(ng_cond_wait(&sig_c, &sig_m), 0);
	atomic_fetch_add(&sig_awake, 1);
	CHECK_EQ(ng_mutex_unlock(&sig_m), 0);
}

static void test_signal(void)
{
	int n = 2;
	for (int i = 0; i < n; i++)
		CHECK_EQ(ng_go(sig_waiter, NULL), 0);
	wait_for(&sig_running, n);
	for (int woken = 0; woken < n; woken++) {
		CHECK_EQ(atomic_load(&sig_awake), woken); /* "goroutine not asleep" */
		/* Both registered under the mutex: holding it, they are in Wait. */
		CHECK_EQ(ng_mutex_lock(&sig_m), 0);
		CHECK_EQ(ng_cond_signal(&sig_c), 0);
		CHECK_EQ(ng_mutex_unlock(&sig_m), 0);
		wait_for(&sig_awake, woken + 1);
		ng_sleep(5 * MS);
		CHECK_EQ(atomic_load(&sig_awake), woken + 1); /* "too many awake" */
	}
	CHECK_EQ(ng_cond_signal(&sig_c), 0);
}

/* ---- 3. signal generations ---- */

typedef struct gen {
	ng_mutex m;
	ng_cond c;
	_Atomic int running, awake_count;
	_Atomic int awake_id;
} gen;

typedef struct gen_arg {
	gen *g;
	int i;
} gen_arg;

static void gen_waiter(void *arg)
{
	gen_arg *a = arg;
	gen *g = a->g;
	CHECK_EQ(ng_mutex_lock(&g->m), 0);
	atomic_fetch_add(&g->running, 1);
	CHECK_EQ(ng_cond_wait(&g->c, &g->m), 0);
	atomic_store(&g->awake_id, a->i);
	atomic_fetch_add(&g->awake_count, 1);
	CHECK_EQ(ng_mutex_unlock(&g->m), 0);
}

static void test_signal_generations(void)
{
	static gen g = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT};
	enum { N = 100 };
	for (int i = 0; i < N; i++) {
		gen_arg a = {&g, i};
		CHECK_EQ(ng_go_copy(gen_waiter, &a, sizeof a), 0);
		if (i > 0) {
			wait_for(&g.awake_count, i);
			CHECK_EQ(atomic_load(&g.awake_id), i - 1); /* the oldest waiter */
		}
		wait_for(&g.running, i + 1);
		CHECK_EQ(ng_mutex_lock(&g.m), 0);
		CHECK_EQ(ng_cond_signal(&g.c), 0);
		CHECK_EQ(ng_mutex_unlock(&g.m), 0);
	}
	wait_for(&g.awake_count, N);
	CHECK_EQ(atomic_load(&g.awake_id), N - 1);
}

/* ---- 4. broadcast ---- */

enum { BN = 200 };

typedef struct bcast {
	ng_mutex m;
	ng_cond c;
	bool exit; /* m */
	_Atomic int running;
	_Atomic int awake[BN]; /* wakeups per goroutine */
	_Atomic int awake_total;
	ng_waitgroup wg;
} bcast;

typedef struct bcast_arg {
	bcast *b;
	int g;
} bcast_arg;

static void bcast_waiter(void *arg)
{
	bcast_arg *a = arg;
	bcast *b = a->b;
	CHECK_EQ(ng_mutex_lock(&b->m), 0);
	while (!b->exit) {
		atomic_fetch_add(&b->running, 1);
		CHECK_EQ(ng_cond_wait(&b->c, &b->m), 0);
		atomic_fetch_add(&b->awake[a->g], 1);
		atomic_fetch_add(&b->awake_total, 1);
	}
	CHECK_EQ(ng_mutex_unlock(&b->m), 0);
	ng_waitgroup_done(&b->wg);
}

static void test_broadcast(void)
{
	static bcast b = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT, .wg = NG_WAITGROUP_INIT};
	const int rounds = NG_TEST_SCALE(BN, 10);
	CHECK_EQ(ng_waitgroup_add(&b.wg, BN), 0);
	for (int g = 0; g < BN; g++) {
		bcast_arg a = {&b, g};
		CHECK_EQ(ng_go_copy(bcast_waiter, &a, sizeof a), 0);
	}
	for (int r = 0; r < rounds; r++) {
		wait_for(&b.running, BN * (r + 1)); /* all n are waiting again */
		if (r == rounds - 1) {
			CHECK_EQ(ng_mutex_lock(&b.m), 0);
			b.exit = true;
			CHECK_EQ(ng_mutex_unlock(&b.m), 0);
		}
		CHECK_EQ(atomic_load(&b.awake_total), BN * r); /* "goroutine not asleep" */
		CHECK_EQ(ng_mutex_lock(&b.m), 0);
		CHECK_EQ(ng_cond_broadcast(&b.c), 0);
		CHECK_EQ(ng_mutex_unlock(&b.m), 0);
		wait_for(&b.awake_total, BN * (r + 1));
		for (int g = 0; g < BN; g++)
			CHECK_EQ(atomic_load(&b.awake[g]), r + 1); /* each exactly once */
	}
	CHECK_EQ(ng_waitgroup_wait(&b.wg), 0);
	CHECK_EQ(atomic_load(&b.running), BN * rounds); /* "did not exit" otherwise */
	CHECK_EQ(ng_cond_broadcast(&b.c), 0);
}

/* ---- 5. TestRace ---- */

typedef struct race {
	ng_mutex m;
	ng_cond c;
	int x; /* m */
	ng_waitgroup wg;
} race;

static void race1(void *arg)
{
	race *r = arg;
	ng_mutex_lock(&r->m);
	r->x = 1;
	CHECK_EQ(ng_cond_wait(&r->c, &r->m), 0);
	CHECK_EQ(r->x, 2);
	r->x = 3;
	ng_cond_signal(&r->c);
	ng_mutex_unlock(&r->m);
	ng_waitgroup_done(&r->wg);
}

static void race2(void *arg)
{
	race *r = arg;
	ng_mutex_lock(&r->m);
	for (;;) {
		if (r->x == 1) {
			r->x = 2;
			ng_cond_signal(&r->c);
			break;
		}
		ng_mutex_unlock(&r->m);
		ng_yield();
		ng_mutex_lock(&r->m);
	}
	ng_mutex_unlock(&r->m);
	ng_waitgroup_done(&r->wg);
}

static void race3(void *arg)
{
	race *r = arg;
	ng_mutex_lock(&r->m);
	for (;;) {
		if (r->x == 2) {
			CHECK_EQ(ng_cond_wait(&r->c, &r->m), 0);
			CHECK_EQ(r->x, 3);
			break;
		}
		if (r->x == 3)
			break;
		ng_mutex_unlock(&r->m);
		ng_yield();
		ng_mutex_lock(&r->m);
	}
	ng_mutex_unlock(&r->m);
	ng_waitgroup_done(&r->wg);
}

static void test_race(void)
{
	for (int k = 0; k < NG_TEST_SCALE(100, 30); k++) {
		race r = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT, .wg = NG_WAITGROUP_INIT};
		CHECK_EQ(ng_waitgroup_add(&r.wg, 3), 0);
		CHECK_EQ(ng_go(race1, &r), 0);
		CHECK_EQ(ng_go(race2, &r), 0);
		CHECK_EQ(ng_go(race3, &r), 0);
		CHECK_EQ(ng_waitgroup_wait(&r.wg), 0);
		CHECK_EQ(r.x, 3);
	}
}

/* ---- 6. signal stealing ---- */

typedef struct steal {
	ng_mutex m;
	ng_cond c;
	bool done; /* m */
	_Atomic int first_in, first_out, second_out, broadcast_done;
} steal;

static void steal_first(void *arg)
{
	steal *s = arg;
	ng_mutex_lock(&s->m);
	atomic_store(&s->first_in, 1);
	CHECK_EQ(ng_cond_wait(&s->c, &s->m), 0);
	ng_mutex_unlock(&s->m);
	atomic_store(&s->first_out, 1);
}

static void steal_broadcaster(void *arg)
{
	steal *s = arg;
	ng_cond_broadcast(&s->c);
	atomic_store(&s->broadcast_done, 1);
}

static void steal_second(void *arg)
{
	steal *s = arg;
	ng_mutex_lock(&s->m);
	while (!s->done)
		CHECK_EQ(ng_cond_wait(&s->c, &s->m), 0);
	ng_mutex_unlock(&s->m);
	atomic_store(&s->second_out, 1);
}

static void test_signal_stealing(void)
{
	for (int k = 0; k < NG_TEST_SCALE(1000, 50); k++) {
		steal s = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT};
		CHECK_EQ(ng_go(steal_first, &s), 0);
		wait_for(&s.first_in, 1);
		/* holding and releasing m proves the first waiter is in Wait */
		ng_mutex_lock(&s.m);
		ng_mutex_unlock(&s.m);
		CHECK_EQ(ng_go(steal_broadcaster, &s), 0);
		CHECK_EQ(ng_go(steal_second, &s), 0);
		wait_for(&s.first_out, 1); /* "First waiter didn't get broadcast" */
		ng_mutex_lock(&s.m);
		s.done = true;
		ng_mutex_unlock(&s.m);
		ng_cond_broadcast(&s.c);
		wait_for(&s.second_out, 1);
		wait_for(&s.broadcast_done, 1);
	}
}

/* ---- 7. deadlines ---- */

typedef struct dl {
	ng_mutex m;
	ng_cond c;
	_Atomic int phase;
	_Atomic int64_t t0, locked_at, unlocked_at;
	ng_waitgroup wg;
} dl;

static void deadline_body(void *arg)
{
	dl *d = arg;
	/* a plain timeout */
	CHECK_EQ(ng_mutex_lock(&d->m), 0);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_cond_wait_until(&d->c, &d->m, t0 + 20 * MS), -ETIMEDOUT);
	CHECK(ng_now() - t0 >= 20 * MS);
	CHECK_EQ(ng_mutex_unlock(&d->m), 0); /* held exactly once */
	CHECK_EQ(ng_mutex_unlock(&d->m), -EPERM);

	/* deadline 0 and a past one: unlock, relock, -ETIMEDOUT */
	CHECK_EQ(ng_mutex_lock(&d->m), 0);
	CHECK_EQ(ng_cond_wait_until(&d->c, &d->m, 0), -ETIMEDOUT);
	CHECK_EQ(ng_cond_wait_until(&d->c, &d->m, ng_now() - 1), -ETIMEDOUT);
	CHECK_EQ(ng_mutex_trylock(&d->m), -EAGAIN);
	CHECK_EQ(ng_mutex_unlock(&d->m), 0);

	/* The deadline passes while main holds m (it can lock m only once
	 * we wait, and keeps it until 50 ms past our deadline): we return
	 * only once m is ours again. */
	CHECK_EQ(ng_mutex_lock(&d->m), 0);
	t0 = ng_now();
	atomic_store(&d->t0, t0);
	atomic_store(&d->phase, 1);
	CHECK_EQ(ng_cond_wait_until(&d->c, &d->m, t0 + 100 * MS), -ETIMEDOUT);
	int64_t back = ng_now();
	CHECK(atomic_load(&d->locked_at) < t0 + 100 * MS);
	CHECK(atomic_load(&d->unlocked_at) != 0);
	CHECK(back >= atomic_load(&d->unlocked_at));
	CHECK(back - t0 >= 150 * MS);

	/* a signal before the deadline */
	atomic_store(&d->phase, 2);
	CHECK_EQ(ng_cond_wait_until(&d->c, &d->m, ng_now() + 5000 * MS), 0);
	CHECK_EQ(atomic_load(&d->phase), 3);
	CHECK_EQ(ng_mutex_unlock(&d->m), 0);
	ng_waitgroup_done(&d->wg);
}

static void test_deadlines(bool thread)
{
	dl d = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT, .wg = NG_WAITGROUP_INIT};
	waiter_run w;
	CHECK_EQ(ng_waitgroup_add(&d.wg, 1), 0);
	waiter_start(&w, thread, deadline_body, &d);
	wait_for(&d.phase, 1);
	CHECK_EQ(ng_mutex_lock(&d.m), 0); /* the waiter is in wait_until */
	atomic_store(&d.locked_at, ng_now());
	ng_sleep_until(atomic_load(&d.t0) + 150 * MS); /* its deadline passes */
	atomic_store(&d.unlocked_at, ng_now());
	CHECK_EQ(ng_mutex_unlock(&d.m), 0);
	wait_for(&d.phase, 2);
	CHECK_EQ(ng_mutex_lock(&d.m), 0); /* it waits again */
	atomic_store(&d.phase, 3);
	CHECK_EQ(ng_cond_signal(&d.c), 0);
	CHECK_EQ(ng_mutex_unlock(&d.m), 0);
	CHECK_EQ(ng_waitgroup_wait(&d.wg), 0);
	waiter_join(&w);
	CHECK_EQ(d.m.state, 0);
	CHECK(d.c.q.head == NULL);
}

/* ---- 8. a timed-out waiter does not swallow a signal ---- */

typedef struct swallow {
	ng_mutex m;
	ng_cond c;
	_Atomic int timed_in, timed_out, forever_in, forever_out;
} swallow;

static void swallow_timed(void *arg)
{
	swallow *s = arg;
	ng_mutex_lock(&s->m);
	atomic_store(&s->timed_in, 1);
	CHECK_EQ(ng_cond_wait_until(&s->c, &s->m, ng_now() + 10 * MS), -ETIMEDOUT);
	ng_mutex_unlock(&s->m);
	atomic_store(&s->timed_out, 1);
}

static void swallow_forever(void *arg)
{
	swallow *s = arg;
	ng_mutex_lock(&s->m);
	atomic_store(&s->forever_in, 1);
	CHECK_EQ(ng_cond_wait(&s->c, &s->m), 0);
	ng_mutex_unlock(&s->m);
	atomic_store(&s->forever_out, 1);
}

static void test_timed_out_waiter_skipped(void)
{
	swallow s = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT};
	/* the timed waiter queues first, so it is at the head */
	CHECK_EQ(ng_go(swallow_timed, &s), 0);
	wait_for(&s.timed_in, 1);
	CHECK_EQ(ng_go(swallow_forever, &s), 0);
	wait_for(&s.forever_in, 1);
	wait_for(&s.timed_out, 1);
	ng_mutex_lock(&s.m);
	CHECK_EQ(ng_cond_signal(&s.c), 0);
	ng_mutex_unlock(&s.m);
	wait_for(&s.forever_out, 1);
}

/* ---- 9. foreign threads ---- */

typedef struct fw {
	ng_mutex m;
	ng_cond c;
	int ready; /* m */
	_Atomic int waiting, woken;
	ng_waitgroup wg;
} fw;

static void fw_wait(fw *f)
{
	CHECK_EQ(ng_mutex_lock(&f->m), 0);
	atomic_fetch_add(&f->waiting, 1);
	while (!f->ready)
		CHECK_EQ(ng_cond_wait(&f->c, &f->m), 0);
	CHECK_EQ(ng_mutex_unlock(&f->m), 0);
	atomic_fetch_add(&f->woken, 1);
	ng_waitgroup_done(&f->wg);
}

static void *fw_wait_t(void *arg)
{
	fw_wait(arg);
	return NULL;
}

static void fw_wait_g(void *arg)
{
	fw_wait(arg);
}

static void *fw_signal_t(void *arg)
{
	fw *f = arg;
	wait_for(&f->waiting, 1);
	CHECK_EQ(ng_mutex_lock(&f->m), 0);
	f->ready = 1;
	CHECK_EQ(ng_cond_signal(&f->c), 0);
	CHECK_EQ(ng_mutex_unlock(&f->m), 0);
	return NULL;
}

static void test_foreign(void)
{
	/* pthreads wait, a goroutine broadcasts */
	fw a = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT, .wg = NG_WAITGROUP_INIT};
	pthread_t th[2];
	CHECK_EQ(ng_waitgroup_add(&a.wg, 2), 0);
	for (int i = 0; i < 2; i++)
		foreign_start_thread(&th[i], fw_wait_t, &a);
	wait_for(&a.waiting, 2);
	ng_sleep(5 * MS);
	CHECK_EQ(atomic_load(&a.woken), 0);
	CHECK_EQ(ng_mutex_lock(&a.m), 0);
	a.ready = 1;
	CHECK_EQ(ng_cond_broadcast(&a.c), 0);
	CHECK_EQ(ng_mutex_unlock(&a.m), 0);
	CHECK_EQ(ng_waitgroup_wait(&a.wg), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	CHECK_EQ(atomic_load(&a.woken), 2);

	/* a goroutine waits, a pthread signals */
	fw b = {.m = NG_MUTEX_INIT, .c = NG_COND_INIT, .wg = NG_WAITGROUP_INIT};
	CHECK_EQ(ng_waitgroup_add(&b.wg, 1), 0);
	CHECK_EQ(ng_go(fw_wait_g, &b), 0);
	foreign_start_thread(&th[0], fw_signal_t, &b);
	CHECK_EQ(ng_waitgroup_wait(&b.wg), 0);
	CHECK_EQ(pthread_join(th[0], NULL), 0);
	CHECK_EQ(atomic_load(&b.woken), 1);
}

static int main_g(void *arg)
{
	(void)arg;
	test_errors();
	test_signal();
	test_signal_generations();
	test_broadcast();
	test_race();
	test_signal_stealing();
	test_deadlines(false);
	test_deadlines(true);
	test_timed_out_waiter_skipped();
	test_foreign();
	return 0;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
