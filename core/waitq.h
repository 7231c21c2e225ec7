/* core/waitq.h — wait queues: the one way anything in numago waits.
 *
 * A waiter is either a goroutine (it parks; whoever wakes it calls ng_ready)
 * or a foreign thread (it sleeps on a futex note in its waiter record).  The
 * queue's lock is a small spinlock: critical sections are a few list
 * operations, and a goroutine is never preempted while holding it.  A
 * goroutine enqueues itself with the lock held and parks; the lock is
 * released by post_switch, once the goroutine is off its stack, so a waker
 * can never run it before it has really stopped (see internal.h).
 *
 * Waiter records live on the waiter's own stack: it cannot return before it
 * is dequeued and woken.
 */
#ifndef NG_CORE_WAITQ_H
#define NG_CORE_WAITQ_H

#include "internal.h"

#include <numago/sync.h>

typedef struct ng_waiter {
	struct ng_waiter *next, *prev;
	ng_g *g;          /* the goroutine, or NULL for a foreign thread */
	ng_note note;     /* foreign thread sleeps here */
	void *data;       /* for the primitive (element pointer, weight, ...) */
	int result;       /* set by the waker */
	_Atomic int done; /* set by the waker before waking: 1 */
} ng_waiter;

static inline void waitq_lock(ng_waitq_ *q)
{
	_Atomic int *l = (_Atomic int *)&q->lock;
	for (int spins = 0;; spins++) {
		int zero = 0;
		if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(l, &zero, 1, memory_order_acquire,
		                                          memory_order_relaxed))
			return;
		if (spins < 100)
			ng_cpu_relax();
		else
			sched_yield(); /* the holder was descheduled: let it run */
	}
}

static inline void waitq_unlock(ng_waitq_ *q)
{
	atomic_store_explicit((_Atomic int *)&q->lock, 0, memory_order_release);
}

static inline void waitq_push(ng_waitq_ *q, ng_waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail != NULL)
		((ng_waiter *)q->tail)->next = w;
	else
		q->head = w;
	q->tail = w;
}

static inline ng_waiter *waitq_pop(ng_waitq_ *q)
{
	ng_waiter *w = q->head;
	if (w != NULL) {
		q->head = w->next;
		if (q->head != NULL)
			((ng_waiter *)q->head)->prev = NULL;
		else
			q->tail = NULL;
		w->next = w->prev = NULL;
	}
	return w;
}

static inline void waitq_remove(ng_waitq_ *q, ng_waiter *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->next = w->prev = NULL;
}

/* Block the caller on q, which the caller has locked; returns with q
 * unlocked once a waker called waitq_wake on w.  Returns w->result. */
int ng_waitq_block(ng_waitq_ *q, ng_waiter *w, int reason);
/* Wake a dequeued waiter (q's lock may or may not be held). */
void ng_waitq_wake(ng_waiter *w, int result);

#endif
