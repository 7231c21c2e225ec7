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
	ng_note note;     /* foreign thread sleeps here... */
	ng_note *notep;   /* ...or on a note shared by all its waiters (select) */
	void *data;       /* for the primitive (element pointer, ...) */
	int64_t weight;   /* for the primitive (semaphore weight, ...) */
	int result;       /* set by the waker */
	bool linked;      /* in a queue; the queue's lock */
	bool fblocked;    /* foreign waiter counted itself blocked (deadlock detector) */
	_Atomic int done; /* set by the waker before waking: 1 */
	/* Claim word: whoever moves it 0 -> 1 (a waker, or the deadline) owns
	 * the wakeup; the loser backs off.  Usually &own_claim; a select points
	 * all its cases' waiters at one shared word. */
	_Atomic int *claim;
	_Atomic int own_claim;
	/* Someone besides a waker may claim it (a deadline, another select
	 * case).  An uncontested waiter is the waker's alone: no CAS. */
	bool contested;
	/* channels and select (chan.c) */
	struct ng_chan *chan;
	int case_index;
	bool success; /* the operation completed (vs. woken by close) */
} ng_waiter;

static inline void waitq_lock(ng_waitq_ *q)
{
	ng_spin_lock((_Atomic int32_t *)&q->lock);
}

static inline void waitq_unlock(ng_waitq_ *q)
{
	ng_spin_unlock((_Atomic int32_t *)&q->lock);
}

/* waitq_unlock in the shape ng_waiter_sleep's `unlock` takes. */
static inline void waitq_unlock_cb(void *q)
{
	waitq_unlock(q);
}

/* The head is written under the lock but may be peeked without it (failing
 * non-blocking channel operations): relaxed atomic stores, plain movs. */
static inline void waitq_set_head(ng_waitq_ *q, ng_waiter *w)
{
	__atomic_store_n(&q->head, (void *)w, __ATOMIC_RELAXED);
}

static inline void waitq_push(ng_waitq_ *q, ng_waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail != NULL)
		((ng_waiter *)q->tail)->next = w;
	else
		waitq_set_head(q, w);
	q->tail = w;
	w->linked = true;
}

static inline void waitq_remove(ng_waitq_ *q, ng_waiter *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		waitq_set_head(q, w->next);
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->next = w->prev = NULL;
	w->linked = false;
}

static inline bool waiter_claim(ng_waiter *w)
{
	if (!w->contested)
		return true;
	int zero = 0;
	return atomic_compare_exchange_strong_explicit(w->claim, &zero, 1, memory_order_acq_rel,
	                                               memory_order_acquire);
}

/* Unlink and return the first waiter this caller could claim (q locked);
 * waiters whose deadline (or another select case) won are dropped on the
 * way: they unlink nothing themselves once they find `linked` false. */
static inline ng_waiter *waitq_pop(ng_waitq_ *q)
{
	ng_waiter *w;
	while ((w = q->head) != NULL) {
		waitq_remove(q, w);
		if (waiter_claim(w))
			return w;
	}
	return NULL;
}

/* The first waiter without unlinking or claiming it (NULL if empty). */
static inline ng_waiter *waitq_peek(ng_waitq_ *q)
{
	return q->head;
}

/* Prepare a waiter record (on the waiter's stack). */
static inline void waiter_init(ng_waiter *w)
{
	w->next = w->prev = NULL;
	w->g = NULL;
	w->notep = &w->note;
	w->data = NULL;
	w->weight = 0;
	w->result = 0;
	w->linked = false;
	w->fblocked = false;
	atomic_store_explicit(&w->done, 0, memory_order_relaxed);
	atomic_store_explicit(&w->own_claim, 0, memory_order_relaxed);
	w->claim = &w->own_claim;
	w->contested = false;
	w->chan = NULL;
	w->case_index = -1;
	w->success = false;
}

/* Block the caller on q, which the caller has locked, with w (waiter_init'd
 * and filled) queued at the tail; returns with q unlocked, once a waker
 * claimed w and called ng_waitq_wake (its result), or with -ETIMEDOUT once
 * the deadline passed (w then is no longer queued).  NG_FOREVER: no
 * deadline; a deadline already past returns -ETIMEDOUT without blocking. */
int ng_waitq_block_until(ng_waitq_ *q, ng_waiter *w, int reason, int64_t deadline);
static inline int ng_waitq_block(ng_waitq_ *q, ng_waiter *w, int reason)
{
	return ng_waitq_block_until(q, w, reason, NG_FOREVER);
}
/* Wake a waiter the caller claimed (waitq_pop does); q's lock may or may
 * not be held. */
void ng_waitq_wake(ng_waiter *w, int result);

/* The two halves of a blocking wait, for primitives that queue one waiter
 * on several queues (select): park/sleep until w->claim is won by a waker
 * or the deadline.  `unlock(arg)` releases whatever the caller holds, once
 * the caller is safely asleep (NULL: the caller holds nothing).  Returns true if a waker won (w->result is
 * set), false on timeout: the caller must then unlink w itself. */
bool ng_waiter_sleep(ng_waiter *w, int reason, int64_t deadline, void (*unlock)(void *arg),
                     void *arg);

#endif
