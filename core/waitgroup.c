/* core/waitgroup.c — sync.WaitGroup.
 *
 * As in Go, one 64-bit word holds the counter (high half) and the number of
 * waiters (low half), so the Add that brings the counter to zero knows
 * whether anyone waits: if nobody does it never touches the waitgroup again
 * (the owner may free it as soon as the counter is zero).  If some do, they
 * cannot leave before they are woken, so the waitgroup is still alive while
 * the adder takes the queue; the adder unlinks them all under the lock and
 * wakes them only after dropping it.
 */
#define _GNU_SOURCE
#include "waitq.h"

#include <errno.h>

#define WG_COUNT(s)   ((int32_t)((uint64_t)(s) >> 32))
#define WG_WAITERS(s) ((uint32_t)(s))
#define WG_ONE        ((int64_t)1 << 32)

int(ng_waitgroup_add)(ng_waitgroup *wg, int64_t n)
{
	if (wg == NULL)
		return -EINVAL;
	/* Outside these the counter (0..INT32_MAX) leaves its range anyway,
	 * and the sum below would overflow int64_t first. */
	if (n < -(int64_t)INT32_MAX || n > INT32_MAX)
		return -EINVAL;
	_Atomic int64_t *st = (_Atomic int64_t *)&wg->count;
	int64_t old = atomic_load_explicit(st, memory_order_relaxed), new;
	do {
		int64_t cnt = (int64_t)WG_COUNT(old) + n;
		if (cnt < 0 || cnt > INT32_MAX)
			return -EINVAL; /* Go panics; the counter is left unchanged */
		new = (int64_t)((uint64_t)cnt << 32 | WG_WAITERS(old));
	} while (!atomic_compare_exchange_weak_explicit(st, &old, new, memory_order_acq_rel,
	                                                memory_order_relaxed));
	if (WG_COUNT(new) != 0 || WG_WAITERS(new) == 0 || n == 0)
		return 0;
	/* Counter reached zero with waiters registered: release them all. */
	waitq_lock(&wg->q);
	atomic_store_explicit(st, 0, memory_order_release);
	ng_waiter *list = NULL, *w;
	while ((w = waitq_pop(&wg->q)) != NULL) {
		w->next = list;
		list = w;
	}
	waitq_unlock(&wg->q);
	while (list != NULL) {
		w = list;
		list = w->next;
		ng_waitq_wake(w, 0);
	}
	return 0;
}

int(ng_waitgroup_done)(ng_waitgroup *wg)
{
	return ng_waitgroup_add(wg, -1);
}

int ng_waitgroup_wait_until(ng_waitgroup *wg, int64_t deadline)
{
	if (wg == NULL)
		return -EINVAL;
	_Atomic int64_t *st = (_Atomic int64_t *)&wg->count;
	if (WG_COUNT(atomic_load_explicit(st, memory_order_acquire)) == 0)
		return 0;
	if (deadline == 0 || (deadline != NG_FOREVER && ng_nanotime() >= deadline))
		return -ETIMEDOUT;
	waitq_lock(&wg->q);
	int64_t old = atomic_load_explicit(st, memory_order_acquire);
	do {
		if (WG_COUNT(old) == 0) {
			waitq_unlock(&wg->q);
			return 0;
		}
	} while (!atomic_compare_exchange_weak_explicit(st, &old, old + 1, memory_order_acq_rel,
	                                                memory_order_acquire));
	ng_waiter w;
	waiter_init(&w);
	waitq_push(&wg->q, &w);
	if (ng_waiter_sleep(&w, NG_WAIT_WAITGROUP, deadline, waitq_unlock_cb, &wg->q))
		return w.result;
	/* Timed out.  Still queued: nobody released us, so take our
	 * registration back in the same critical section.  Unlinked: the
	 * releasing Add dropped us and already cleared the word. */
	waitq_lock(&wg->q);
	if (w.linked) {
		waitq_remove(&wg->q, &w);
		atomic_fetch_sub_explicit(st, 1, memory_order_acq_rel);
	}
	waitq_unlock(&wg->q);
	return -ETIMEDOUT;
}

int(ng_waitgroup_wait)(ng_waitgroup *wg)
{
	return ng_waitgroup_wait_until(wg, NG_FOREVER);
}
