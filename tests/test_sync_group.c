/* ng_group: errgroup.WithContext, from goroutines and threads.
 *
 *  1. API errors: NULL group or fn is -EINVAL; ng_group_ctx(NULL) is NULL.
 *  2. All succeed: 100 tasks return 0; the group's context stays live
 *     until ng_group_wait, which returns 0 and releases it.
 *  3. The first error wins and cancels the context: one task fails with
 *     -5 at once, another waits on the context, sees -ECANCELED and fails
 *     with -7; before waiting, ng_ctx_err(ng_group_ctx(g)) is -ECANCELED
 *     and ng_ctx_done(...) is closed; ng_group_wait returns -5.
 *  4. Of 100 tasks that all fail, exactly one error is returned (one of
 *     theirs), and each task ran.
 *  5. A cancelled parent cancels the group's context.
 *  6. A pthread runs a group: go, wait, first error.
 *  7. A zeroed group (no context) runs tasks and returns the first error.
 */
#define _GNU_SOURCE
#include "sync_util.h"

static int ok_task(void *arg)
{
	atomic_fetch_add((_Atomic int *)arg, 1);
	return 0;
}

/* ---- 1. errors ---- */

static void test_errors(void)
{
	ng_group g;
	CHECK_EQ(ng_group_init(NULL, NULL), -EINVAL);
	CHECK(ng_group_ctx(NULL) == NULL);
	CHECK_EQ(ng_group_wait(NULL), -EINVAL);
	CHECK_EQ(ng_group_init(&g, NULL), 0);
	CHECK_EQ(ng_group_go(NULL, ok_task, NULL), -EINVAL);
	CHECK_EQ(ng_group_go(&g, NULL, NULL), -EINVAL);
	CHECK_EQ(ng_group_wait(&g), 0);
	CHECK(ng_group_ctx(&g) == NULL); /* released */
}

/* ---- 2. success ---- */

static void test_success(void)
{
	ng_group g;
	_Atomic int ran = 0;
	CHECK_EQ(ng_group_init(&g, NULL), 0);
	ng_ctx *ctx = ng_group_ctx(&g);
	CHECK(ctx != NULL);
	for (int i = 0; i < 100; i++)
		CHECK_EQ(ng_group_go(&g, ok_task, &ran), 0);
	wait_for(&ran, 100);
	CHECK_EQ(ng_ctx_err(ctx), 0); /* nobody failed */
	CHECK_EQ(ng_chan_try_recv(ng_ctx_done(ctx), NULL), -EAGAIN);
	ng_ctx_retain(ctx); /* to look at it after wait */
	CHECK_EQ(ng_group_wait(&g), 0);
	CHECK(ng_group_ctx(&g) == NULL);
	CHECK_EQ(ng_ctx_err(ctx), -ECANCELED); /* wait cancels, as Go's does */
	ng_ctx_release(ctx);
}

/* ---- 3. first error cancels ---- */

typedef struct first {
	ng_group g;
	_Atomic int failed, waiter_rc;
} first;

static int fail_at_once(void *arg)
{
	first *f = arg;
	atomic_store(&f->failed, 1);
	return -5;
}

static int fail_on_cancel(void *arg)
{
	first *f = arg;
	int rc = ng_ctx_wait(ng_group_ctx(&f->g), ng_now() + 5000 * MS);
	atomic_store(&f->waiter_rc, rc);
	return -7;
}

static void test_first_error(void)
{
	first f = {.failed = 0};
	CHECK_EQ(ng_group_init(&f.g, NULL), 0);
	ng_ctx *ctx = ng_group_ctx(&f.g);
	CHECK_EQ(ng_group_go(&f.g, fail_on_cancel, &f), 0);
	ng_sleep(5 * MS); /* the waiter waits first */
	CHECK_EQ(ng_ctx_err(ctx), 0);
	CHECK_EQ(ng_group_go(&f.g, fail_at_once, &f), 0);
	int64_t limit = ng_now() + 5000 * MS;
	while (atomic_load(&f.waiter_rc) == 0) {
		CHECK(ng_now() < limit);
		ng_sleep(100 * US);
	}
	CHECK_EQ(atomic_load(&f.waiter_rc), -ECANCELED);
	CHECK_EQ(ng_ctx_err(ng_group_ctx(&f.g)), -ECANCELED);
	CHECK_EQ(ng_chan_try_recv(ng_ctx_done(ng_group_ctx(&f.g)), NULL), -EPIPE); /* closed */
	CHECK_EQ(ng_group_wait(&f.g), -5);
}

/* ---- 4. many errors ---- */

typedef struct many {
	_Atomic int ran;
} many;

static many many_state;

static int fail_with_own(void *arg)
{
	atomic_fetch_add(&many_state.ran, 1);
	return -(int)(long)arg;
}

static void test_many_errors(void)
{
	ng_group g;
	CHECK_EQ(ng_group_init(&g, NULL), 0);
	for (long i = 1; i <= 100; i++)
		CHECK_EQ(ng_group_go(&g, fail_with_own, (void *)i), 0);
	int rc = ng_group_wait(&g);
	CHECK(rc <= -1 && rc >= -100);
	CHECK_EQ(atomic_load(&many_state.ran), 100);
}

/* ---- 5. parent cancel ---- */

static int wait_for_cancel(void *arg)
{
	ng_ctx *ctx = arg;
	return ng_ctx_wait(ctx, ng_now() + 5000 * MS);
}

static void test_parent_cancel(void)
{
	ng_ctx *parent = ng_ctx_with_cancel(NULL);
	CHECK(parent != NULL);
	ng_group g;
	CHECK_EQ(ng_group_init(&g, parent), 0);
	CHECK_EQ(ng_group_go(&g, wait_for_cancel, ng_group_ctx(&g)), 0);
	ng_sleep(5 * MS);
	CHECK_EQ(ng_ctx_err(ng_group_ctx(&g)), 0);
	ng_ctx_cancel(parent);
	CHECK_EQ(ng_group_wait(&g), -ECANCELED);
	ng_ctx_release(parent);
}

/* ---- 6. a pthread runs a group ---- */

static int fail_three(void *arg)
{
	(void)arg;
	ng_sleep(2 * MS);
	return -3;
}

typedef struct thread_run {
	_Atomic int ran, done;
} thread_run;

static void *group_thread(void *arg)
{
	thread_run *t = arg;
	ng_group g;
	CHECK_EQ(ng_group_init(&g, NULL), 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(ng_group_go(&g, ok_task, &t->ran), 0);
	CHECK_EQ(ng_group_go(&g, fail_three, NULL), 0);
	CHECK_EQ(ng_group_wait(&g), -3);
	CHECK_EQ(atomic_load(&t->ran), 10);
	atomic_store(&t->done, 1);
	return NULL;
}

static void test_thread(void)
{
	thread_run t = {0, 0};
	pthread_t th;
	foreign_start_thread(&th, group_thread, &t);
	wait_for(&t.done, 1); /* park, rather than block an M in join */
	CHECK_EQ(pthread_join(th, NULL), 0);
}

/* ---- 7. zero group ---- */

static void test_zero_group(void)
{
	ng_group g = {0};
	_Atomic int ran = 0;
	CHECK(ng_group_ctx(&g) == NULL);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(ng_group_go(&g, ok_task, &ran), 0);
	CHECK_EQ(ng_group_go(&g, fail_three, NULL), 0);
	CHECK_EQ(ng_group_wait(&g), -3);
	CHECK_EQ(atomic_load(&ran), 10);
}

static int main_g(void *arg)
{
	(void)arg;
	test_errors();
	test_success();
	test_first_error();
	test_many_errors();
	test_parent_cancel();
	test_thread();
	test_zero_group();
	return 0;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
