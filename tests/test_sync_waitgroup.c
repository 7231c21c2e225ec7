/* Waitgroup: Go's semantics (wait returns once the counter is zero, a
 * negative counter is refused) plus deadlines, in goroutines and in
 * foreign threads, and the waiter count that lets a timed-out waiter leave
 * without confusing a later release. */
#include "ng_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#define MS (1000000LL)

static ng_waitgroup wg_static = NG_WAITGROUP_INIT;

/* A timed wait on a counter nobody lowers: -ETIMEDOUT, not before the
 * deadline; deadline 0 does not block. */
static void timed_out_wait(void)
{
	int64_t t0 = ng_now();
	int rc = ng_waitgroup_wait_until(&wg_static, t0 + 20 * MS);
	int64_t t1 = ng_now();
	CHECK_EQ(rc, -ETIMEDOUT);
	CHECK(t1 - t0 >= 20 * MS);
	CHECK_EQ(ng_waitgroup_wait_until(&wg_static, 0), -ETIMEDOUT);
}

static void *timed_out_thread(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_id(), 0);
	timed_out_wait();
	return NULL;
}

static void timed_out_goroutine(void *arg)
{
	CHECK(ng_id() != 0);
	timed_out_wait();
	ng_waitgroup_done(arg);
}

typedef struct release_job {
	ng_waitgroup *wg;
	int64_t after;
} release_job;

static void release_later(void *arg)
{
	release_job *j = arg;
	ng_sleep(j->after);
	CHECK_EQ(ng_waitgroup_done(j->wg), 0);
}

static void *waiter_thread(void *arg)
{
	/* released before its deadline: 0 */
	CHECK_EQ(ng_waitgroup_wait_until(arg, ng_now() + 10000 * MS), 0);
	return NULL;
}

static _Atomic int churn_ok;

static void churn_waiter(void *arg)
{
	ng_waitgroup *wg = arg;
	int rc = ng_waitgroup_wait_until(wg, ng_now() + (int64_t)(ng_id() % 3) * MS / 2);
	CHECK(rc == 0 || rc == -ETIMEDOUT);
	atomic_fetch_add(&churn_ok, 1);
}

static int main_g(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_waitgroup_add(NULL, 1), -EINVAL);
	CHECK_EQ(ng_waitgroup_wait_until(NULL, 0), -EINVAL);
	CHECK_EQ(ng_waitgroup_done(&wg_static), -EINVAL);    /* would go negative */
	CHECK_EQ(ng_waitgroup_wait_until(&wg_static, 0), 0); /* zero: no wait */

	/* 1. timeouts in a goroutine and in a thread, at the same time */
	CHECK_EQ(ng_waitgroup_add(&wg_static, 1), 0);
	ng_waitgroup g_done = NG_WAITGROUP_INIT;
	ng_waitgroup_add(&g_done, 1);
	CHECK_EQ(ng_go(timed_out_goroutine, &g_done), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, timed_out_thread, NULL), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&g_done), 0);
	/* the timed-out waiters left: a release wakes nobody stale, and the
	 * counter is back to zero */
	CHECK_EQ(ng_waitgroup_done(&wg_static), 0);
	CHECK_EQ(ng_waitgroup_wait_until(&wg_static, 0), 0);

	/* 2. released before the deadline: goroutine (main) and thread */
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
	release_job a = {&wg, 10 * MS}, b = {&wg, 20 * MS};
	CHECK_EQ(pthread_create(&th, NULL, waiter_thread, &wg), 0);
	CHECK_EQ(ng_go(release_later, &a), 0);
	CHECK_EQ(ng_go(release_later, &b), 0);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_waitgroup_wait_until(&wg, t0 + 10000 * MS), 0);
	CHECK(ng_now() - t0 >= 20 * MS);
	CHECK_EQ(pthread_join(th, NULL), 0);

	/* 3. waiters timing out while the counter reaches zero: every one
	 * returns, and the waitgroup is reusable afterwards */
	for (int round = 0; round < NG_TEST_SCALE(200, 40); round++) {
		ng_waitgroup w = NG_WAITGROUP_INIT;
		ng_waitgroup all = NG_WAITGROUP_INIT;
		atomic_store(&churn_ok, 0);
		CHECK_EQ(ng_waitgroup_add(&w, 1), 0);
		for (int i = 0; i < 8; i++)
			CHECK_EQ(ng_go(churn_waiter, &w), 0);
		ng_sleep((round % 3) * MS / 2);
		CHECK_EQ(ng_waitgroup_done(&w), 0);
		/* reuse: a new cycle on the same waitgroup must still work */
		CHECK_EQ(ng_waitgroup_add(&all, 1), 0);
		release_job r = {&all, MS / 4};
		CHECK_EQ(ng_go(release_later, &r), 0);
		CHECK_EQ(ng_waitgroup_wait_until(&all, ng_now() + 10000 * MS), 0);
		while (atomic_load(&churn_ok) < 8)
			ng_sleep(MS / 10);
		CHECK_EQ(ng_waitgroup_wait_until(&w, 0), 0);
	}
	printf("ok\n");
	return 0;
}

int main(void)
{
	return ng_run(NULL, main_g, NULL);
}
