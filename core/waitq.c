/* core/waitq.c — blocking and waking on a wait queue (see waitq.h). */
#define _GNU_SOURCE
#include "waitq.h"

#include <errno.h>

static bool unlock_waitq(ng_g *g, void *arg)
{
	(void)g;
	waitq_unlock(arg);
	return true;
}

int ng_waitq_block(ng_waitq_ *q, ng_waiter *w, int reason)
{
	ng_m *m = ng_getm();
	atomic_store_explicit(&w->done, 0, memory_order_relaxed);
	if (m != NULL && m->curg != NULL) {
		w->g = m->curg;
		waitq_push(q, w);
		ng_park(unlock_waitq, q, reason);
		return w->result;
	}
	w->g = NULL;
	ng_note_clear(&w->note);
	waitq_push(q, w);
	waitq_unlock(q);
	ng_foreign_blocking(true);
	ng_note_sleep(&w->note);
	ng_foreign_unblocked_counted(); /* the waker counted us active */
	return w->result;
}

void ng_waitq_wake(ng_waiter *w, int result)
{
	w->result = result;
	ng_g *g = w->g;
	if (g != NULL) {
		atomic_store_explicit(&w->done, 1, memory_order_release);
		ng_ready(g);
	} else {
		ng_foreign_wake_counted();
		atomic_store_explicit(&w->done, 1, memory_order_release);
		/* after this the waiter may return and its record vanish */
		ng_note_wakeup(&w->note);
	}
}
