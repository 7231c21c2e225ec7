/* core/sync_internal.h — what the sync primitives share (mutex.c,
 * rwmutex.c, cond.c, sema.c). */
#ifndef NG_CORE_SYNC_INTERNAL_H
#define NG_CORE_SYNC_INTERNAL_H

#include "waitq.h"

/* ng_mutex_lock_until that names its wait reason (a once, a writer) in
 * dumps and deadlock reports. */
int ng_mutex_lock_reason(ng_mutex *m, int64_t deadline, int reason);

/* Queue w at the head of q (q locked): Go's LIFO requeue, for a waiter
 * that was woken and lost the race, so it keeps its place in line. */
static inline void waitq_push_head(ng_waitq_ *q, ng_waiter *w)
{
	w->prev = NULL;
	w->next = q->head;
	if (q->head != NULL)
		((ng_waiter *)q->head)->prev = w;
	else
		q->tail = w;
	waitq_set_head(q, w);
	w->linked = true;
}

/* True once the caller's deadline has passed (NG_FOREVER never does). */
static inline bool sync_expired(int64_t deadline)
{
	return deadline != NG_FOREVER && (deadline == 0 || ng_nanotime() >= deadline);
}

#endif
