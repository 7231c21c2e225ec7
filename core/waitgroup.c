/* core/waitgroup.c — sync.WaitGroup.
 *
 * Invariant: count >= 0; waiters are queued only while count > 0 (checked
 * under the queue lock), and the add that brings count to 0 takes the lock
 * and releases every waiter, so a waiter cannot miss the zero. */
#define _GNU_SOURCE
#include "waitq.h"

#include <errno.h>

int ng_waitgroup_add(ng_waitgroup *wg, int64_t n)
{
	if (wg == NULL)
		return -EINVAL;
	_Atomic int64_t *c = (_Atomic int64_t *)&wg->count;
	int64_t old = atomic_load_explicit(c, memory_order_relaxed);
	do {
		if (old + n < 0)
			return -EINVAL;
	} while (!atomic_compare_exchange_weak_explicit(c, &old, old + n, memory_order_acq_rel,
	                                                memory_order_relaxed));
	if (old + n == 0 && n != 0) {
		waitq_lock(&wg->q);
		ng_waiter *w;
		while ((w = waitq_pop(&wg->q)) != NULL)
			ng_waitq_wake(w, 0);
		waitq_unlock(&wg->q);
	}
	return 0;
}

int ng_waitgroup_done(ng_waitgroup *wg)
{
	return ng_waitgroup_add(wg, -1);
}

int ng_waitgroup_wait_until(ng_waitgroup *wg, int64_t deadline)
{
	if (wg == NULL)
		return -EINVAL;
	_Atomic int64_t *c = (_Atomic int64_t *)&wg->count;
	if (atomic_load_explicit(c, memory_order_acquire) == 0)
		return 0;
	if (deadline == 0)
		return -ETIMEDOUT;
	waitq_lock(&wg->q);
	if (atomic_load_explicit(c, memory_order_acquire) == 0) {
		waitq_unlock(&wg->q);
		return 0;
	}
	ng_waiter w;
	waiter_init(&w);
	return ng_waitq_block_until(&wg->q, &w, NG_WAIT_WAITGROUP, deadline);
}

int ng_waitgroup_wait(ng_waitgroup *wg)
{
	return ng_waitgroup_wait_until(wg, NG_FOREVER);
}
