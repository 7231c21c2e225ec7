/* core/sema.c — weighted semaphore (golang.org/x/sync/semaphore).
 *
 * size and cur (the weight held) live under q's lock, and q holds the
 * waiters in arrival order, each with its weight.  FIFO without barging:
 * an acquire succeeds at once only if it fits *and* nobody waits, and a
 * release grants waiters from the head for as long as the head fits, so a
 * big waiter at the head holds back smaller ones behind it (otherwise it
 * could starve).  The price is that a head waiter that gives up must look
 * again at the ones behind it: the room that was too small for it may fit
 * them, and no release may ever come to grant them.
 *
 * Invariants (q locked): 0 <= cur <= size; if q is not empty, its head
 * does not fit (size - cur < head's weight), except for a head whose
 * deadline has already claimed it and that is about to leave. */
#define _GNU_SOURCE
#include "sync_internal.h"

#include <errno.h>

/* Grant waiters from the head while they fit (q locked).  Waiters whose
 * deadline won are dropped on the way, as waitq_pop does. */
static void notify_waiters(ng_sema *s)
{
	ng_waiter *w;
	while ((w = waitq_peek(&s->q)) != NULL) {
		if (s->size - s->cur < w->weight) {
			if (atomic_load_explicit(w->claim, memory_order_acquire) == 0)
				break;          /* a live waiter that does not fit */
			waitq_remove(&s->q, w); /* leaving on its deadline */
			continue;
		}
		waitq_remove(&s->q, w);
		if (!waiter_claim(w))
			continue;
		s->cur += w->weight;
		ng_waitq_wake(w, 0);
	}
}

int ng_sema_init(ng_sema *s, int64_t n)
{
	if (s == NULL || n < 0)
		return -EINVAL;
	*s = (ng_sema)NG_SEMA_INIT(n);
	return 0;
}

int ng_sema_acquire(ng_sema *s, int64_t k, int64_t deadline)
{
	if (s == NULL || k < 0)
		return -EINVAL;
	waitq_lock(&s->q);
	if (k > s->size) {
		/* x/sync waits for the context here; an acquire that can
		 * never succeed is a bug worth reporting at once. */
		waitq_unlock(&s->q);
		return -EINVAL;
	}
	if (s->size - s->cur >= k && waitq_peek(&s->q) == NULL) {
		s->cur += k;
		waitq_unlock(&s->q);
		return 0;
	}
	if (deadline == 0) {
		waitq_unlock(&s->q);
		return -EAGAIN;
	}
	if (sync_expired(deadline)) {
		waitq_unlock(&s->q);
		return -ETIMEDOUT;
	}
	ng_waiter w;
	waiter_init(&w);
	w.weight = k;
	waitq_push(&s->q, &w);
	if (ng_waiter_sleep(&w, NG_WAIT_SEMA, deadline, waitq_unlock_cb, &s->q))
		return w.result;
	waitq_lock(&s->q);
	if (w.linked) {
		bool front = waitq_peek(&s->q) == &w;
		waitq_remove(&s->q, &w);
		if (front && s->size > s->cur)
			notify_waiters(s);
	}
	waitq_unlock(&s->q);
	return -ETIMEDOUT;
}

int ng_sema_release(ng_sema *s, int64_t k)
{
	if (s == NULL || k < 0)
		return -EINVAL;
	waitq_lock(&s->q);
	if (k > s->cur) {
		waitq_unlock(&s->q);
		return -EINVAL; /* released more than held (x/sync panics) */
	}
	s->cur -= k;
	notify_waiters(s);
	waitq_unlock(&s->q);
	return 0;
}
