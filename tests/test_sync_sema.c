/* ng_sema: weighted semaphore (golang.org/x/sync/semaphore), FIFO.
 *
 *  1. API errors: NULL is -EINVAL; init with n < 0, acquire of k < 0 or
 *     k > size, release of k < 0 are -EINVAL; releasing more than is held
 *     is -EINVAL and changes nothing.
 *  2. Basics on a statically initialised semaphore: acquire up to the
 *     size, then deadline 0 is -EAGAIN and a past deadline -ETIMEDOUT.
 *  3. Deadlines, in a goroutine and in a pthread: acquire on a full
 *     semaphore returns -ETIMEDOUT no earlier than the deadline; with a
 *     far deadline it gets the weight as soon as it is released.
 *  4. FIFO, no barging: with a big waiter at the head, a small acquire
 *     that would fit fails (-EAGAIN) and a small waiter queues behind it;
 *     releases serve them in order.
 *  5. x/sync's fix: a big head waiter that times out lets the small one
 *     behind it proceed at once, with no release to prompt it.
 *  6. Hammer: goroutines and pthreads acquire weights 1-4 of 5 (some with
 *     short deadlines); the weight held never exceeds the size, and the
 *     semaphore ends empty with nobody queued.
 */
#define _GNU_SOURCE
#include "sync_util.h"

static int64_t held(ng_sema *s)
{
	return s->cur; /* only read while nobody else touches s */
}

/* ---- 1. errors ---- */

static void test_errors(void)
{
	ng_sema s;
	CHECK_EQ(ng_sema_init(NULL, 1), -EINVAL);
	CHECK_EQ(ng_sema_init(&s, -1), -EINVAL);
	CHECK_EQ(ng_sema_init(&s, 4), 0);
	CHECK_EQ(ng_sema_acquire(NULL, 1, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_sema_release(NULL, 1), -EINVAL);
	CHECK_EQ(ng_sema_acquire(&s, -1, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_sema_acquire(&s, 5, NG_FOREVER), -EINVAL); /* can never fit */
	CHECK_EQ(ng_sema_release(&s, -1), -EINVAL);
	CHECK_EQ(ng_sema_release(&s, 1), -EINVAL); /* nothing held */
	CHECK_EQ(ng_sema_acquire(&s, 3, NG_FOREVER), 0);
	CHECK_EQ(ng_sema_release(&s, 4), -EINVAL); /* more than held */
	CHECK_EQ(held(&s), 3);
	CHECK_EQ(ng_sema_release(&s, 3), 0);
	CHECK_EQ(held(&s), 0);
	CHECK_EQ(ng_sema_acquire(&s, 0, 0), 0); /* weight 0 always fits */
	ng_sema zero = {0};                     /* zero state: a size-0 semaphore */
	CHECK_EQ(ng_sema_acquire(&zero, 0, 0), 0);
	CHECK_EQ(ng_sema_acquire(&zero, 1, 0), -EINVAL);
}

/* ---- 2. basics ---- */

static ng_sema basic = NG_SEMA_INIT(10); /* static initialiser */

static void test_basics(void)
{
	CHECK_EQ(ng_sema_acquire(&basic, 3, NG_FOREVER), 0);
	CHECK_EQ(ng_sema_acquire(&basic, 7, 0), 0);
	CHECK_EQ(ng_sema_acquire(&basic, 1, 0), -EAGAIN);
	CHECK_EQ(ng_sema_acquire(&basic, 1, ng_now() - 1), -ETIMEDOUT);
	CHECK_EQ(ng_sema_release(&basic, 10), 0);
	CHECK_EQ(ng_sema_acquire(&basic, 10, 0), 0);
	CHECK_EQ(ng_sema_release(&basic, 4), 0);
	CHECK_EQ(ng_sema_release(&basic, 6), 0);
	CHECK_EQ(held(&basic), 0);
}

/* ---- 3. deadlines ---- */

typedef struct dl {
	ng_sema s;
	_Atomic int phase;
	ng_waitgroup wg;
} dl;

static void deadline_body(void *arg)
{
	dl *d = arg;
	int64_t t0 = ng_now();
	CHECK_EQ(ng_sema_acquire(&d->s, 1, t0 + 20 * MS), -ETIMEDOUT);
	int64_t t1 = ng_now();
	CHECK(t1 - t0 >= 20 * MS);
	CHECK(t1 - t0 < 2000 * MS);
	atomic_store(&d->phase, 1); /* main releases 1 about 10 ms later */
	CHECK_EQ(ng_sema_acquire(&d->s, 1, ng_now() + 5000 * MS), 0);
	CHECK(ng_now() - t1 < 4000 * MS);
	CHECK_EQ(atomic_load(&d->phase), 2);
	CHECK_EQ(ng_sema_release(&d->s, 1), 0);
	ng_waitgroup_done(&d->wg);
}

static void test_deadlines(bool thread)
{
	dl d = {.s = NG_SEMA_INIT(2), .wg = NG_WAITGROUP_INIT};
	waiter_run w;
	CHECK_EQ(ng_sema_acquire(&d.s, 2, NG_FOREVER), 0);
	CHECK_EQ(ng_waitgroup_add(&d.wg, 1), 0);
	waiter_start(&w, thread, deadline_body, &d);
	wait_for(&d.phase, 1);
	ng_sleep(10 * MS);
	atomic_store(&d.phase, 2);
	CHECK_EQ(ng_sema_release(&d.s, 1), 0);
	CHECK_EQ(ng_waitgroup_wait(&d.wg), 0);
	waiter_join(&w);
	CHECK_EQ(ng_sema_release(&d.s, 1), 0);
	CHECK_EQ(held(&d.s), 0);
	CHECK(d.s.q.head == NULL);
}

/* ---- 4. and 5. FIFO ---- */

/* The semaphore's queue, read under its lock (a spinlock on q.lock). */
static int queued(ng_sema *s)
{
	_Atomic int *l = (_Atomic int *)&s->q.lock;
	for (int zero = 0; !atomic_compare_exchange_weak(l, &zero, 1); zero = 0)
		sched_yield();
	int n = 0;
	for (void **w = s->q.head; w != NULL; w = *w) /* a waiter starts with next */
		n++;
	atomic_store(l, 0);
	return n;
}

typedef struct waiter_arg {
	ng_sema *s;
	int64_t k, deadline;
	_Atomic int started, done;
	int rc;
} waiter_arg;

static void acquirer(void *arg)
{
	waiter_arg *w = arg;
	atomic_store(&w->started, 1);
	w->rc = ng_sema_acquire(w->s, w->k, w->deadline);
	atomic_store(&w->done, 1);
}

/* Start an acquire in a goroutine and return once it is queued (the
 * queue then holds n waiters). */
static void start_waiter(waiter_arg *w, ng_sema *s, int64_t k, int64_t deadline, int n)
{
	*w = (waiter_arg){.s = s, .k = k, .deadline = deadline};
	CHECK_EQ(ng_go(acquirer, w), 0);
	wait_for(&w->started, 1);
	int64_t limit = ng_now() + 5000 * MS;
	while (queued(s) != n) {
		CHECK(ng_now() < limit);
		ng_sleep(50 * US);
	}
}

static void test_fifo(void)
{
	ng_sema s = NG_SEMA_INIT(10);
	waiter_arg big, small;
	CHECK_EQ(ng_sema_acquire(&s, 5, NG_FOREVER), 0);
	start_waiter(&big, &s, 10, NG_FOREVER, 1);
	CHECK_EQ(ng_sema_acquire(&s, 1, 0), -EAGAIN); /* 5 free, but big is first */
	start_waiter(&small, &s, 3, NG_FOREVER, 2);
	ng_sleep(5 * MS);
	CHECK_EQ(atomic_load(&big.done) + atomic_load(&small.done), 0);
	CHECK_EQ(ng_sema_release(&s, 5), 0); /* big fits now; small still waits */
	wait_for(&big.done, 1);
	CHECK_EQ(big.rc, 0);
	ng_sleep(5 * MS);
	CHECK_EQ(atomic_load(&small.done), 0);
	CHECK_EQ(ng_sema_release(&s, 10), 0);
	wait_for(&small.done, 1);
	CHECK_EQ(small.rc, 0);
	CHECK_EQ(ng_sema_release(&s, 3), 0);
	CHECK_EQ(held(&s), 0);
}

static void test_head_timeout_lets_others_proceed(void)
{
	ng_sema s = NG_SEMA_INIT(10);
	waiter_arg big, small;
	CHECK_EQ(ng_sema_acquire(&s, 5, NG_FOREVER), 0);
	start_waiter(&big, &s, 10, ng_now() + 200 * MS, 1);
	start_waiter(&small, &s, 3, NG_FOREVER, 2);
	CHECK_EQ(atomic_load(&small.done), 0); /* 5 free, but behind big */
	/* no release: only big's timeout can let small in */
	wait_for(&big.done, 1);
	CHECK_EQ(big.rc, -ETIMEDOUT);
	wait_for(&small.done, 1);
	CHECK_EQ(small.rc, 0);
	CHECK_EQ(held(&s), 8);
	CHECK_EQ(ng_sema_release(&s, 8), 0);
	CHECK(s.q.head == NULL);
}

/* ---- 6. hammer ---- */

enum { HSIZE = 5 };
static ng_sema hammer_s = NG_SEMA_INIT(HSIZE);
static _Atomic int64_t hammer_held;
static _Atomic long hammer_ok, hammer_timeouts;
static ng_waitgroup hammer_wg = NG_WAITGROUP_INIT;

static void hammer_body(long seed)
{
	uint64_t x = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 7;
	for (int i = 0; i < NG_TEST_SCALE(1000, 300); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t k = 1 + (int64_t)(x % 4);
		int64_t deadline = x % 3 == 0 ? ng_now() + (int64_t)(x % 200) * US : NG_FOREVER;
		int rc = ng_sema_acquire(&hammer_s, k, deadline);
		if (rc == -ETIMEDOUT) {
			atomic_fetch_add(&hammer_timeouts, 1);
			continue;
		}
		CHECK_EQ(rc, 0);
		int64_t now_held = atomic_fetch_add(&hammer_held, k) + k;
		CHECK(now_held <= HSIZE);
		if (x % 8 == 0)
			ng_sleep(300 * US); /* outlast some deadlines */
		else if (x % 2 == 0)
			sync_relax();
		atomic_fetch_sub(&hammer_held, k);
		CHECK_EQ(ng_sema_release(&hammer_s, k), 0);
		atomic_fetch_add(&hammer_ok, 1);
	}
	ng_waitgroup_done(&hammer_wg);
}

static void hammer_g(void *arg)
{
	hammer_body((long)arg);
}

static void *hammer_t(void *arg)
{
	hammer_body((long)arg);
	return NULL;
}

static void test_hammer(void)
{
	enum { GOROUTINES = 16, THREADS = 2 };
	pthread_t th[THREADS];
	CHECK_EQ(ng_waitgroup_add(&hammer_wg, GOROUTINES + THREADS), 0);
	for (long i = 0; i < THREADS; i++)
		foreign_start_thread(&th[i], hammer_t, (void *)(100 + i));
	for (long i = 0; i < GOROUTINES; i++)
		CHECK_EQ(ng_go(hammer_g, (void *)i), 0);
	CHECK_EQ(ng_waitgroup_wait(&hammer_wg), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	CHECK_EQ(held(&hammer_s), 0);
	CHECK(hammer_s.q.head == NULL);
	CHECK(atomic_load(&hammer_ok) > 0);
	CHECK(atomic_load(&hammer_timeouts) > 0);
	printf("hammer: %ld acquired, %ld timed out\n", atomic_load(&hammer_ok),
	       atomic_load(&hammer_timeouts));
}

static int main_g(void *arg)
{
	(void)arg;
	test_errors();
	test_basics();
	test_deadlines(false);
	test_deadlines(true);
	test_fifo();
	test_head_timeout_lets_others_proceed();
	test_hammer();
	return 0;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
