/* core/cond.c — sync.Cond over an ng_mutex.
 *
 * Go's notifyList hands out tickets so that a Signal issued after Wait
 * unlocked L but before it slept is not lost.  Here the waiter keeps the
 * cond's queue locked from before it unlocks the mutex until it is asleep
 * (the queue lock is released only once it is off its stack), so a
 * signaller, who must take that lock to pop a waiter, always finds it
 * queued.  Lock order: the cond's queue, then the mutex's queue (unlocking
 * may wake a mutex waiter while we hold the first).
 *
 * Signal and broadcast pop with waitq_pop, which claims: a waiter whose
 * deadline already won is skipped, so a signal always reaches a waiter that
 * can still use it. */
#define _GNU_SOURCE
#include "sync_internal.h"

#include <errno.h>

int ng_cond_wait_until(ng_cond *c, ng_mutex *m, int64_t deadline)
{
	if (c == NULL || m == NULL)
		return -EINVAL;
	waitq_lock(&c->q);
	int rc = ng_mutex_unlock(m);
	if (rc != 0) {
		waitq_unlock(&c->q);
		return rc; /* -EPERM: the caller did not hold m */
	}
	ng_waiter w;
	waiter_init(&w);
	rc = ng_waitq_block_until(&c->q, &w, NG_WAIT_COND, deadline);
	/* Timed out or not, the caller holds m again when we return. */
	ng_mutex_lock(m);
	return rc;
}

int ng_cond_wait(ng_cond *c, ng_mutex *m)
{
	return ng_cond_wait_until(c, m, NG_FOREVER);
}

int ng_cond_signal(ng_cond *c)
{
	if (c == NULL)
		return -EINVAL;
	waitq_lock(&c->q);
	ng_waiter *w = waitq_pop(&c->q);
	waitq_unlock(&c->q);
	if (w != NULL)
		ng_waitq_wake(w, 0);
	return 0;
}

int ng_cond_broadcast(ng_cond *c)
{
	if (c == NULL)
		return -EINVAL;
	waitq_lock(&c->q);
	ng_waiter *w;
	while ((w = waitq_pop(&c->q)) != NULL)
		ng_waitq_wake(w, 0);
	waitq_unlock(&c->q);
	return 0;
}
