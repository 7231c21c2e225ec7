/* tests/sync_util.h — helpers for the sync primitive tests: pthreads that
 * are known to the runtime before the test leans on them. */
#ifndef SYNC_UTIL_H
#define SYNC_UTIL_H

#include "ng_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#define MS 1000000LL
#define US 1000LL

/* Yield the CPU the way the caller can: a goroutine to the scheduler, a
 * foreign thread to the OS. */
static inline void sync_relax(void)
{
	if (ng_id() != 0)
		ng_yield();
	else
		sched_yield();
}

/* Wait (5 s at most) until *v >= want, parking a goroutine between looks. */
static inline void wait_for(_Atomic int *v, int want)
{
	int64_t limit = ng_now() + 5000 * MS;
	while (atomic_load(v) < want) {
		CHECK(ng_now() < limit);
		if (ng_id() != 0)
			ng_sleep(50 * US);
		else
			sched_yield();
	}
}

typedef struct foreign_start {
	void *(*fn)(void *);
	void *arg;
	_Atomic int ready;
} foreign_start;

static void *foreign_main(void *p)
{
	foreign_start *s = p;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg;
	CHECK_EQ(ng_id(), 0);
	CHECK_EQ(ng_self_proc(), -1);
	/* A timed wait (that must time out) makes the thread known to the
	 * runtime, which from then on counts it among the threads that may
	 * still wake a goroutine. */
	ng_mutex m = NG_MUTEX_INIT;
	CHECK_EQ(ng_mutex_lock(&m), 0);
	CHECK_EQ(ng_mutex_lock_until(&m, ng_now() + 100 * US), -ETIMEDOUT);
	CHECK_EQ(ng_mutex_unlock(&m), 0);
	atomic_store(&s->ready, 1); /* s may vanish now */
	return fn(arg);
}

/* Start a pthread running fn(arg) and return once the runtime knows it.
 * Until a foreign thread's first wait, the deadlock detector cannot tell it
 * apart from a thread that will never call the runtime; a test whose
 * goroutines all finish before its threads got going would be reported as
 * a deadlock. */
static inline void foreign_start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	foreign_start s = {fn, arg, 0};
	CHECK_EQ(pthread_create(t, NULL, foreign_main, &s), 0);
	while (!atomic_load(&s.ready)) {
		if (ng_id() != 0)
			ng_sleep(100 * US);
		else
			sched_yield();
	}
}

/* Run body(arg) in a new goroutine, or (thread) in a pthread known to the
 * runtime; waiter_join waits for the thread. */
typedef struct waiter_run {
	void (*body)(void *);
	void *arg;
	bool thread;
	pthread_t th;
} waiter_run;

static void *waiter_run_thread(void *p)
{
	waiter_run *r = p;
	r->body(r->arg);
	return NULL;
}

static inline void waiter_start(waiter_run *r, bool thread, void (*body)(void *), void *arg)
{
	r->body = body;
	r->arg = arg;
	r->thread = thread;
	if (thread)
		foreign_start_thread(&r->th, waiter_run_thread, r);
	else
		CHECK_EQ(ng_go(body, arg), 0);
}

static inline void waiter_join(waiter_run *r)
{
	if (r->thread)
		CHECK_EQ(pthread_join(r->th, NULL), 0);
}

#endif
