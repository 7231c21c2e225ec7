/* ng_mutex: Go's sync.Mutex, with deadlines, from goroutines and threads.
 *
 *  1. API errors: NULL is -EINVAL everywhere; unlock of a fresh mutex and a
 *     second unlock are -EPERM and leave it usable; trylock and
 *     lock_until(0) on a held mutex are -EAGAIN, a past deadline is
 *     -ETIMEDOUT.
 *  2. TestMutex (mutex_test.go): 10 goroutines and 2 pthreads hammer one
 *     statically initialised mutex with lock and trylock; nobody is ever
 *     inside together, every acquisition is counted, and the mutex ends at
 *     rest (state 0, no wakeup left over).
 *  3. Starvation mode, step by step (two goroutines pinned to one P, so the
 *     order is fixed): a waiter that waited 2 ms and lost the race to a
 *     barging trylock sets the starving bit; the next unlock hands the
 *     mutex to it directly, so a trylock right after that unlock fails even
 *     though the lock bit is clear; the waiter, the last one, ends
 *     starvation.
 *  4. TestMutexFairness: a goroutine that relocks in a loop cannot starve
 *     another one, which gets its 10 locks in well under 5 s.
 *  5. Deadlines in a goroutine and in a pthread: lock_until on a held mutex
 *     returns -ETIMEDOUT no earlier than the deadline; with a far deadline
 *     it gets the mutex as soon as it is unlocked.
 *  6. Deadline stress: goroutines and pthreads mix lock, and lock_until with
 *     deadlines of 0-300 us; both outcomes occur, mutual exclusion holds,
 *     and the mutex ends at rest (timed-out waiters leave the waiter count,
 *     the woken flag and starvation mode consistent).
 */
#define _GNU_SOURCE
#include "sync_util.h"

enum { LOCKED = 1, WOKEN = 2, STARVING = 4, WAITER_SHIFT = 3 };

static int32_t mstate(ng_mutex *m)
{
	return atomic_load((_Atomic int32_t *)&m->state);
}

static void check_at_rest(ng_mutex *m)
{
	CHECK_EQ(mstate(m), 0);
	CHECK_EQ(m->sema, 0);
}

/* ---- 1. errors ---- */

static void test_errors(void)
{
	CHECK_EQ(ng_mutex_lock(NULL), -EINVAL);
	CHECK_EQ(ng_mutex_unlock(NULL), -EINVAL);
	CHECK_EQ(ng_mutex_trylock(NULL), -EINVAL);
	CHECK_EQ(ng_mutex_lock_until(NULL, NG_FOREVER), -EINVAL);

	ng_mutex m = NG_MUTEX_INIT;
	CHECK_EQ(ng_mutex_unlock(&m), -EPERM);
	check_at_rest(&m);
	CHECK_EQ(ng_mutex_lock(&m), 0);
	CHECK_EQ(ng_mutex_trylock(&m), -EAGAIN);
	CHECK_EQ(ng_mutex_lock_until(&m, 0), -EAGAIN);
	CHECK_EQ(ng_mutex_lock_until(&m, ng_now() - 1), -ETIMEDOUT);
	CHECK_EQ(ng_mutex_unlock(&m), 0);
	CHECK_EQ(ng_mutex_unlock(&m), -EPERM);
	check_at_rest(&m);
	CHECK_EQ(ng_mutex_trylock(&m), 0);
	CHECK_EQ(ng_mutex_unlock(&m), 0);
	CHECK_EQ(ng_mutex_lock_until(&m, 0), 0);
	CHECK_EQ(ng_mutex_unlock(&m), 0);
	CHECK_EQ(ng_mutex_lock_until(&m, NG_FOREVER), 0);
	CHECK_EQ(ng_mutex_unlock(&m), 0);
	check_at_rest(&m);
}

/* ---- 2. hammer ---- */

static ng_mutex hammer_mu = NG_MUTEX_INIT; /* static initialiser */
static _Atomic int inside;
static long counter; /* hammer_mu */
static _Atomic long acquired;
static ng_waitgroup hammer_wg = NG_WAITGROUP_INIT;

static void critical_section(long i)
{
	CHECK_EQ(atomic_exchange(&inside, 1), 0);
	counter++;
	if (i % 7 == 0)
		sync_relax(); /* hold it across a switch now and then */
	CHECK_EQ(atomic_exchange(&inside, 0), 1);
}

static void hammer(void *arg)
{
	long loops = (long)arg, got = 0;
	for (long i = 0; i < loops; i++) {
		if (i % 3 == 0) {
			int rc = ng_mutex_trylock(&hammer_mu);
			CHECK(rc == 0 || rc == -EAGAIN);
			if (rc == 0) {
				critical_section(i);
				CHECK_EQ(ng_mutex_unlock(&hammer_mu), 0);
				got++;
			}
			continue;
		}
		CHECK_EQ(ng_mutex_lock(&hammer_mu), 0);
		critical_section(i);
		CHECK_EQ(ng_mutex_unlock(&hammer_mu), 0);
		got++;
	}
	atomic_fetch_add(&acquired, got);
	CHECK_EQ(ng_waitgroup_done(&hammer_wg), 0);
}

static void *hammer_thread(void *arg)
{
	hammer(arg);
	return NULL;
}

static void test_hammer(void)
{
	enum { GOROUTINES = 10, THREADS = 2, LOOPS = 1000 };
	pthread_t th[THREADS];
	CHECK_EQ(ng_waitgroup_add(&hammer_wg, GOROUTINES + THREADS), 0);
	for (int i = 0; i < THREADS; i++)
		foreign_start_thread(&th[i], hammer_thread, (void *)(long)LOOPS);
	for (int i = 0; i < GOROUTINES; i++)
		CHECK_EQ(ng_go(hammer, (void *)(long)LOOPS), 0);
	CHECK_EQ(ng_waitgroup_wait(&hammer_wg), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	CHECK_EQ(ng_mutex_lock(&hammer_mu), 0);
	CHECK_EQ(counter, atomic_load(&acquired));
	/* the 2/3 that use lock always get it */
	CHECK(counter >= (GOROUTINES + THREADS) * (LOOPS * 2 / 3));
	CHECK_EQ(ng_mutex_unlock(&hammer_mu), 0);
	check_at_rest(&hammer_mu);
}

/* ---- 3. starvation mode, deterministically ---- */

typedef struct starve {
	ng_mutex m;
	ng_waitgroup wg;
	_Atomic int waiter_got;
	int proc;
} starve;

static void starve_waiter(void *arg)
{
	starve *s = arg;
	CHECK_EQ(ng_mutex_lock(&s->m), 0);
	atomic_store(&s->waiter_got, 1);
	CHECK_EQ(ng_mutex_unlock(&s->m), 0);
	ng_waitgroup_done(&s->wg);
}

static void starve_driver(void *arg)
{
	starve *s = arg;
	CHECK_EQ(ng_self_proc(), s->proc);
	CHECK_EQ(ng_mutex_lock(&s->m), 0);
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.proc = s->proc; /* runs only when we stop */
	CHECK_EQ(ng_waitgroup_add(&s->wg, 1), 0);
	CHECK_EQ(ng_go_attr(&attr, starve_waiter, s), 0);
	int64_t limit = ng_now() + 5000 * MS;
	while ((mstate(&s->m) >> WAITER_SHIFT) != 1) {
		CHECK(ng_now() < limit);
		ng_yield();
	}
	ng_sleep(2 * MS);                      /* the waiter has now waited > 1 ms */
	CHECK_EQ(mstate(&s->m) & STARVING, 0); /* it has not noticed yet */
	CHECK_EQ(ng_mutex_unlock(&s->m), 0);
	/* The waiter is woken but cannot run before we stop: barge. */
	CHECK_EQ(ng_mutex_trylock(&s->m), 0);
	while (!(mstate(&s->m) & STARVING)) {
		CHECK(ng_now() < limit);
		ng_yield(); /* the waiter runs, loses, and declares starvation */
	}
	CHECK_EQ(mstate(&s->m) >> WAITER_SHIFT, 1);
	CHECK_EQ(atomic_load(&s->waiter_got), 0);
	CHECK_EQ(ng_mutex_unlock(&s->m), 0);
	/* Handed off: unlocked, yet nobody else may take it. */
	CHECK_EQ(mstate(&s->m) & LOCKED, 0);
	CHECK_EQ(ng_mutex_trylock(&s->m), -EAGAIN);
	CHECK_EQ(ng_mutex_lock_until(&s->m, 0), -EAGAIN);
	ng_waitgroup_done(&s->wg);
}

static void test_starvation_handoff(void)
{
	static starve s = {.m = NG_MUTEX_INIT, .wg = NG_WAITGROUP_INIT};
	s.proc = ng_procs() - 1;
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.proc = s.proc;
	CHECK_EQ(ng_waitgroup_add(&s.wg, 1), 0);
	CHECK_EQ(ng_go_attr(&attr, starve_driver, &s), 0);
	CHECK_EQ(ng_waitgroup_wait(&s.wg), 0);
	CHECK_EQ(atomic_load(&s.waiter_got), 1);
	check_at_rest(&s.m); /* the last waiter ended starvation */
}

/* ---- 3b. a woken waiter that loses goes back to the head ---- */

typedef struct requeue requeue;
typedef struct requeue_arg {
	requeue *r;
	int id;
} requeue_arg;

struct requeue {
	ng_mutex m;
	ng_waitgroup wg;
	_Atomic int order[2], n;
	int proc;
	requeue_arg args[2];
};

static void requeue_waiter(void *arg)
{
	requeue_arg *a = arg;
	requeue *r = a->r;
	CHECK_EQ(ng_mutex_lock(&r->m), 0);
	atomic_store(&r->order[atomic_fetch_add(&r->n, 1)], a->id);
	CHECK_EQ(ng_mutex_unlock(&r->m), 0);
	ng_waitgroup_done(&r->wg);
}

static void wait_waiters(ng_mutex *m, int n, int64_t limit)
{
	while ((mstate(m) >> WAITER_SHIFT) != n || (mstate(m) & WOKEN)) {
		CHECK(ng_now() < limit);
		ng_yield();
	}
}

static void requeue_driver(void *arg)
{
	requeue *r = arg;
	int64_t limit = ng_now() + 5000 * MS;
	CHECK_EQ(ng_mutex_lock(&r->m), 0);
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.proc = r->proc; /* they run only when we stop */
	CHECK_EQ(ng_waitgroup_add(&r->wg, 2), 0);
	for (int id = 1; id <= 2; id++) {
		r->args[id - 1] = (requeue_arg){r, id};
		CHECK_EQ(ng_go_attr(&attr, requeue_waiter, &r->args[id - 1]), 0);
		wait_waiters(&r->m, id, limit); /* 1 queues first, then 2 */
	}
	CHECK_EQ(ng_mutex_unlock(&r->m), 0);  /* wakes 1 */
	CHECK_EQ(ng_mutex_trylock(&r->m), 0); /* and beats it to the mutex */
	wait_waiters(&r->m, 2, limit);        /* 1 has lost and queued again */
	CHECK_EQ(ng_mutex_unlock(&r->m), 0);  /* wakes (or hands off to) the head */
	ng_waitgroup_done(&r->wg);
}

static void test_requeue_at_head(void)
{
	static requeue r = {.m = NG_MUTEX_INIT, .wg = NG_WAITGROUP_INIT};
	r.proc = ng_procs() - 1;
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.proc = r.proc;
	CHECK_EQ(ng_waitgroup_add(&r.wg, 1), 0);
	CHECK_EQ(ng_go_attr(&attr, requeue_driver, &r), 0);
	CHECK_EQ(ng_waitgroup_wait(&r.wg), 0);
	CHECK_EQ(atomic_load(&r.n), 2);
	CHECK_EQ(atomic_load(&r.order[0]), 1); /* it kept its place */
	CHECK_EQ(atomic_load(&r.order[1]), 2);
	check_at_rest(&r.m);
}

/* ---- 4. fairness ---- */

static ng_mutex fair_mu = NG_MUTEX_INIT;
static _Atomic int fair_stop, fair_done;
static ng_waitgroup fair_wg = NG_WAITGROUP_INIT;

static void fair_hog(void *arg)
{
	(void)arg;
	while (!atomic_load(&fair_stop)) {
		ng_mutex_lock(&fair_mu);
		ng_sleep(100 * US);
		ng_mutex_unlock(&fair_mu);
	}
	ng_waitgroup_done(&fair_wg);
}

static void fair_other(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++) {
		ng_sleep(100 * US);
		ng_mutex_lock(&fair_mu);
		ng_mutex_unlock(&fair_mu);
	}
	atomic_store(&fair_done, 1);
	ng_waitgroup_done(&fair_wg);
}

static void test_fairness(void)
{
	CHECK_EQ(ng_waitgroup_add(&fair_wg, 2), 0);
	CHECK_EQ(ng_go(fair_hog, NULL), 0);
	CHECK_EQ(ng_go(fair_other, NULL), 0);
	wait_for(&fair_done, 1); /* "can't acquire Mutex in 5 seconds" */
	atomic_store(&fair_stop, 1);
	CHECK_EQ(ng_waitgroup_wait(&fair_wg), 0);
	check_at_rest(&fair_mu);
}

/* ---- 5. deadlines, goroutine and thread ---- */

typedef struct dl {
	ng_mutex *m;
	ng_waitgroup *wg;
	_Atomic int phase;
} dl;

static void deadline_body(void *arg)
{
	dl *d = arg;
	int64_t t0 = ng_now();
	CHECK_EQ(ng_mutex_lock_until(d->m, t0 + 20 * MS), -ETIMEDOUT);
	int64_t t1 = ng_now();
	CHECK(t1 - t0 >= 20 * MS);
	CHECK(t1 - t0 < 2000 * MS);
	CHECK_EQ(ng_mutex_trylock(d->m), -EAGAIN);
	atomic_store(&d->phase, 1);
	/* the holder unlocks ~10 ms after phase 1 */
	CHECK_EQ(ng_mutex_lock_until(d->m, ng_now() + 5000 * MS), 0);
	CHECK(ng_now() - t1 < 4000 * MS);
	CHECK_EQ(atomic_load(&d->phase), 2);
	CHECK_EQ(ng_mutex_unlock(d->m), 0);
	ng_waitgroup_done(d->wg);
}

static void test_deadlines(bool thread)
{
	ng_mutex m = NG_MUTEX_INIT;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	dl d = {.m = &m, .wg = &wg};
	waiter_run w;
	CHECK_EQ(ng_mutex_lock(&m), 0);
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	waiter_start(&w, thread, deadline_body, &d);
	wait_for(&d.phase, 1);
	ng_sleep(10 * MS);
	atomic_store(&d.phase, 2);
	CHECK_EQ(ng_mutex_unlock(&m), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	waiter_join(&w);
	check_at_rest(&m);
}

/* ---- 6. deadline stress ---- */

static ng_mutex stress_mu = NG_MUTEX_INIT;
static long stress_counter; /* stress_mu */
static _Atomic long stress_ok, stress_timeouts;
static _Atomic int stress_inside;
static ng_waitgroup stress_wg = NG_WAITGROUP_INIT;

static void stress_body(long seed)
{
	uint64_t x = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1;
	long ok = 0, timeouts = 0;
	for (int i = 0; i < NG_TEST_SCALE(3000, 600); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int rc;
		if (x % 5 == 0)
			rc = ng_mutex_lock(&stress_mu);
		else
			rc = ng_mutex_lock_until(&stress_mu, ng_now() + (int64_t)(x % 300) * US);
		if (rc == -ETIMEDOUT) {
			timeouts++;
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(atomic_exchange(&stress_inside, 1), 0);
		stress_counter++;
		if (x % 64 == 0)
			ng_sleep(400 * US); /* outlast the waiters' deadlines */
		else if (x % 4 == 0)
			sync_relax();
		CHECK_EQ(atomic_exchange(&stress_inside, 0), 1);
		CHECK_EQ(ng_mutex_unlock(&stress_mu), 0);
		ok++;
	}
	atomic_fetch_add(&stress_ok, ok);
	atomic_fetch_add(&stress_timeouts, timeouts);
	ng_waitgroup_done(&stress_wg);
}

static void stress_g(void *arg)
{
	stress_body((long)arg);
}

static void *stress_thread(void *arg)
{
	stress_body((long)arg);
	return NULL;
}

static void test_deadline_stress(void)
{
	enum { GOROUTINES = 16, THREADS = 3 };
	pthread_t th[THREADS];
	CHECK_EQ(ng_waitgroup_add(&stress_wg, GOROUTINES + THREADS), 0);
	for (long i = 0; i < THREADS; i++)
		foreign_start_thread(&th[i], stress_thread, (void *)(i + 1000));
	for (long i = 0; i < GOROUTINES; i++)
		CHECK_EQ(ng_go(stress_g, (void *)i), 0);
	CHECK_EQ(ng_waitgroup_wait(&stress_wg), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	check_at_rest(&stress_mu);
	CHECK_EQ(stress_counter, atomic_load(&stress_ok));
	CHECK(atomic_load(&stress_ok) > 0);
	CHECK(atomic_load(&stress_timeouts) > 0);
	printf("deadline stress: %ld locked, %ld timed out\n", atomic_load(&stress_ok),
	       atomic_load(&stress_timeouts));
}

static int main_g(void *arg)
{
	(void)arg;
	test_errors();
	test_hammer();
	test_starvation_handoff();
	test_requeue_at_head();
	test_fairness();
	test_deadlines(false);
	test_deadlines(true);
	test_deadline_stress();
	return 0;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
