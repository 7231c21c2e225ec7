/* core/waitq.c — blocking and waking on a wait queue (see waitq.h). */
#define _GNU_SOURCE
#include "waitq.h"

#include "sched_inline.h"
#include "timer.h"

#include <errno.h>

typedef struct sleep_park {
	ng_tmr t; /* the deadline; armed only once the goroutine is off its stack */
	int64_t deadline;
	void (*unlock)(void *);
	void *arg;
	bool timed_out;
} sleep_park;

static void deadline_fired(ng_tmr *t, int64_t now)
{
	(void)now;
	ng_waiter *w = t->arg;
	sleep_park *sp = (sleep_park *)t; /* t is sp's first member */
	if (!waiter_claim(w))
		return; /* a waker got there first and will ready the goroutine */
	sp->timed_out = true;
	w->result = -ETIMEDOUT;
	atomic_store_explicit(&w->done, 1, memory_order_release);
	ng_ready(w->g);
}

static bool park_unlock(ng_g *g, void *arg)
{
	(void)g;
	sleep_park *sp = arg;
	/* Once the timer is in a heap it can fire on another M and resume the
	 * goroutine, whose stack holds *sp: read everything first.  What the
	 * unlock touches stays valid: a goroutine resumed by its deadline
	 * takes the same locks again before it returns. */
	void (*unlock)(void *) = sp->unlock;
	void *uarg = sp->arg;
	if (sp->deadline != NG_FOREVER)
		ng_tmr_add(&sp->t, sp->deadline);
	if (unlock != NULL)
		unlock(uarg);
	return true;
}

bool ng_waiter_sleep(ng_waiter *w, int reason, int64_t deadline, void (*unlock)(void *arg),
                     void *arg)
{
	ng_m *m = ng_getm();
	if (deadline != NG_FOREVER)
		w->contested = true; /* still under the caller's lock: no waker saw w yet */
	if (m != NULL && m->curg != NULL) {
		w->g = m->curg;
		sleep_park sp = {.t = NG_TMR_INIT(deadline_fired, w),
		                 .deadline = deadline,
		                 .unlock = unlock,
		                 .arg = arg,
		                 .timed_out = false};
		ng_park(park_unlock, &sp, reason);
		if (deadline != NG_FOREVER)
			ng_tmr_del(&sp.t); /* waits out a callback that lost the claim */
		return !sp.timed_out;
	}
	/* A foreign thread blocks on its note.  An untimed wait counts the
	 * thread as blocked for the deadlock detector; a timed one does not:
	 * the thread will come back by itself. */
	w->g = NULL;
	ng_note_clear(w->notep);
	w->fblocked = deadline == NG_FOREVER;
	if (unlock != NULL)
		unlock(arg);
	if (w->fblocked) {
		ng_foreign_blocking(true);
		ng_note_sleep(w->notep);
		ng_foreign_unblocked_counted(); /* the waker counted us active */
		return true;
	}
	ng_foreign_register();
	if (ng_note_sleep_until(w->notep, deadline))
		return true;
	if (waiter_claim(w))
		return false;
	/* A waker claimed us just as the deadline passed: it is about to
	 * wake us, and our record must stay valid until it has. */
	ng_note_sleep(w->notep);
	return true;
}

int ng_waitq_block_until(ng_waitq_ *q, ng_waiter *w, int reason, int64_t deadline)
{
	if (deadline != NG_FOREVER && ng_nanotime() >= deadline) {
		waitq_unlock(q);
		return -ETIMEDOUT;
	}
	waitq_push(q, w);
	if (ng_waiter_sleep(w, reason, deadline, waitq_unlock_cb, q))
		return w->result;
	waitq_lock(q);
	if (w->linked)
		waitq_remove(q, w);
	waitq_unlock(q);
	return -ETIMEDOUT;
}

void ng_waitq_wake(ng_waiter *w, int result)
{
	w->result = result;
	ng_g *g = w->g;
	if (g != NULL) {
		atomic_store_explicit(&w->done, 1, memory_order_release);
		ng_ready_inline(g);
	} else {
		ng_note *n = w->notep;
		if (w->fblocked)
			ng_foreign_wake_counted();
		atomic_store_explicit(&w->done, 1, memory_order_release);
		/* after this the waiter may return and its record vanish */
		ng_note_wakeup(n);
	}
}
