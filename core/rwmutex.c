/* core/rwmutex.c — sync.RWMutex, writer-preferring.
 *
 * Go's algorithm (sync/rwmutex.go):
 *   readers       active readers plus readers waiting for a writer; a
 *                 writer subtracts RWMUTEX_MAX_READERS to announce itself,
 *                 so it is negative while a writer holds or wants the lock
 *                 and new readers (who see it negative) queue behind it;
 *   readers_wait  readers still active when the writer announced itself:
 *                 each of them decrements it on leaving, the last one
 *                 wakes the writer;
 *   w             the mutex writers take among themselves first.
 * The two semaphores are a wait queue plus a count of wakeups released
 * before their waiter arrived (rsema/wsema, under the queue's lock): a
 * writer may release a reader that has incremented `readers` but not yet
 * queued, and that wakeup must wait for it.
 *
 * Misuse that Go turns into a fatal error is -EPERM here, detected before
 * anything is changed (a CAS instead of Go's add-then-check). */
#define _GNU_SOURCE
#include "sync_internal.h"

#include <errno.h>

#define RWMUTEX_MAX_READERS (1 << 30)

static inline _Atomic int32_t *readers(ng_rwmutex *rw)
{
	return (_Atomic int32_t *)&rw->readers;
}

static inline _Atomic int32_t *readers_wait(ng_rwmutex *rw)
{
	return (_Atomic int32_t *)&rw->readers_wait;
}

static void sema_acquire(ng_waitq_ *q, int32_t *sema, int reason)
{
	waitq_lock(q);
	if (*sema > 0) {
		(*sema)--;
		waitq_unlock(q);
		return;
	}
	ng_waiter w;
	waiter_init(&w);
	ng_waitq_block(q, &w, reason);
}

static void sema_release(ng_waitq_ *q, int32_t *sema, int32_t n)
{
	waitq_lock(q);
	while (n > 0) {
		ng_waiter *w = waitq_pop(q);
		if (w == NULL)
			break;
		ng_waitq_wake(w, 0);
		n--;
	}
	*sema += n;
	waitq_unlock(q);
}

int ng_rwmutex_rlock(ng_rwmutex *rw)
{
	if (rw == NULL)
		return -EINVAL;
	if (atomic_fetch_add_explicit(readers(rw), 1, memory_order_acq_rel) + 1 < 0)
		sema_acquire(&rw->rq, &rw->rsema, NG_WAIT_RWMUTEX_R); /* a writer is pending */
	return 0;
}

int ng_rwmutex_tryrlock(ng_rwmutex *rw)
{
	if (rw == NULL)
		return -EINVAL;
	int32_t c = atomic_load_explicit(readers(rw), memory_order_relaxed);
	do {
		if (c < 0)
			return -EAGAIN;
	} while (!atomic_compare_exchange_weak_explicit(
	    readers(rw), &c, c + 1, memory_order_acq_rel, memory_order_relaxed));
	return 0;
}

int ng_rwmutex_runlock(ng_rwmutex *rw)
{
	if (rw == NULL)
		return -EINVAL;
	int32_t c = atomic_load_explicit(readers(rw), memory_order_relaxed);
	do {
		/* no readers at all, or a writer and no readers */
		if (c == 0 || c == -RWMUTEX_MAX_READERS)
			return -EPERM;
	} while (!atomic_compare_exchange_weak_explicit(
	    readers(rw), &c, c - 1, memory_order_acq_rel, memory_order_relaxed));
	/* A writer is pending: the last reader it waits for wakes it. */
	if (c - 1 < 0 &&
	    atomic_fetch_sub_explicit(readers_wait(rw), 1, memory_order_acq_rel) - 1 == 0)
		sema_release(&rw->wq, &rw->wsema, 1);
	return 0;
}

int ng_rwmutex_lock(ng_rwmutex *rw)
{
	if (rw == NULL)
		return -EINVAL;
	ng_mutex_lock_reason(&rw->w, NG_FOREVER, NG_WAIT_RWMUTEX_W);
	/* Announce the writer to readers, then wait for the active ones. */
	int32_t r =
	    atomic_fetch_sub_explicit(readers(rw), RWMUTEX_MAX_READERS, memory_order_acq_rel);
	if (r != 0 && atomic_fetch_add_explicit(readers_wait(rw), r, memory_order_acq_rel) + r != 0)
		sema_acquire(&rw->wq, &rw->wsema, NG_WAIT_RWMUTEX_W);
	return 0;
}

int ng_rwmutex_trylock(ng_rwmutex *rw)
{
	if (rw == NULL)
		return -EINVAL;
	if (ng_mutex_trylock(&rw->w) != 0)
		return -EAGAIN;
	int32_t zero = 0;
	if (!atomic_compare_exchange_strong_explicit(readers(rw), &zero, -RWMUTEX_MAX_READERS,
	                                             memory_order_acq_rel, memory_order_relaxed)) {
		ng_mutex_unlock(&rw->w);
		return -EAGAIN;
	}
	return 0;
}

int ng_rwmutex_unlock(ng_rwmutex *rw)
{
	if (rw == NULL)
		return -EINVAL;
	/* Write-locked means: w held, readers announced away, and no
	 * departing reader still awaited. */
	if (!(atomic_load_explicit((_Atomic int32_t *)&rw->w.state, memory_order_relaxed) & 1) ||
	    atomic_load_explicit(readers_wait(rw), memory_order_relaxed) != 0)
		return -EPERM;
	int32_t c = atomic_load_explicit(readers(rw), memory_order_relaxed);
	do {
		if (c >= 0)
			return -EPERM;
	} while (!atomic_compare_exchange_weak_explicit(
	    readers(rw), &c, c + RWMUTEX_MAX_READERS, memory_order_acq_rel, memory_order_relaxed));
	/* Readers that queued behind us go first, then the next writer. */
	int32_t r = c + RWMUTEX_MAX_READERS;
	if (r > 0)
		sema_release(&rw->rq, &rw->rsema, r);
	ng_mutex_unlock(&rw->w);
	return 0;
}
