/* ng_once: Go's sync.Once, from goroutines and threads.
 *
 *  1. NULL once or fn is -EINVAL (and fn does not run).
 *  2. TestOnce: 10 goroutines and 2 pthreads race on one statically
 *     initialised once whose fn takes 20 ms; fn runs exactly once, and
 *     every caller returns only after it has finished (sees its result).
 *  3. Many callers (1000 goroutines) on fresh onces, once_round after once_round:
 *     one run each, and later calls take the fast path without calling fn.
 */
#define _GNU_SOURCE
#include "sync_util.h"

static ng_once slow_once = NG_ONCE_INIT; /* static initialiser */
static _Atomic int slow_runs, slow_finished;
static ng_waitgroup slow_wg = NG_WAITGROUP_INIT;

static void slow_fn(void *arg)
{
	CHECK_EQ((long)arg, 42);
	atomic_fetch_add(&slow_runs, 1);
	ng_sleep(20 * MS); /* the other callers must wait, not return */
	atomic_store(&slow_finished, 1);
}

static void slow_caller(void)
{
	CHECK_EQ(ng_once_do(&slow_once, slow_fn, (void *)42L), 0);
	CHECK_EQ(atomic_load(&slow_finished), 1);
	CHECK_EQ(atomic_load(&slow_runs), 1);
	ng_waitgroup_done(&slow_wg);
}

static void slow_g(void *arg)
{
	(void)arg;
	slow_caller();
}

static void *slow_t(void *arg)
{
	(void)arg;
	slow_caller();
	return NULL;
}

static void never(void *arg)
{
	(void)arg;
	CHECK(!"fn ran");
}

static void test_errors(void)
{
	ng_once o = NG_ONCE_INIT;
	CHECK_EQ(ng_once_do(NULL, never, NULL), -EINVAL);
	CHECK_EQ(ng_once_do(&o, NULL, NULL), -EINVAL);
	CHECK_EQ(o.done, 0);
}

static void test_once(void)
{
	enum { GOROUTINES = 10, THREADS = 2 };
	pthread_t th[THREADS];
	CHECK_EQ(ng_waitgroup_add(&slow_wg, GOROUTINES + THREADS), 0);
	for (int i = 0; i < THREADS; i++)
		foreign_start_thread(&th[i], slow_t, NULL);
	for (int i = 0; i < GOROUTINES; i++)
		CHECK_EQ(ng_go(slow_g, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&slow_wg), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	CHECK_EQ(atomic_load(&slow_runs), 1);
	/* done now: the fast path, no call */
	CHECK_EQ(ng_once_do(&slow_once, never, NULL), 0);
}

typedef struct once_round {
	ng_once once;
	_Atomic int runs;
	int value; /* written by fn, read by every caller after it returns */
	ng_waitgroup wg;
} once_round;

static void round_fn(void *arg)
{
	once_round *r = arg;
	atomic_fetch_add(&r->runs, 1);
	r->value = 7;
}

static void round_caller(void *arg)
{
	once_round *r = arg;
	CHECK_EQ(ng_once_do(&r->once, round_fn, r), 0);
	CHECK_EQ(r->value, 7);
	ng_waitgroup_done(&r->wg);
}

static void test_many(void)
{
	const int callers = NG_TEST_SCALE(1000, 100);
	for (int k = 0; k < NG_TEST_SCALE(20, 4); k++) {
		once_round r = {.once = NG_ONCE_INIT, .wg = NG_WAITGROUP_INIT};
		CHECK_EQ(ng_waitgroup_add(&r.wg, callers), 0);
		for (int i = 0; i < callers; i++)
			CHECK_EQ(ng_go(round_caller, &r), 0);
		CHECK_EQ(ng_waitgroup_wait(&r.wg), 0);
		CHECK_EQ(atomic_load(&r.runs), 1);
		CHECK_EQ(ng_once_do(&r.once, never, NULL), 0);
	}
}

static int main_g(void *arg)
{
	(void)arg;
	test_errors();
	test_once();
	test_many();
	return 0;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
