/* core/time.c — ng_now, sleeps, ng_after and periodic timers. */
#define _GNU_SOURCE
#include "timer.h"
#include "waitq.h"

#include <numago/chan.h>
#include <numago/time.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int64_t ng_now(void)
{
	return ng_nanotime();
}

int ng_sleep_until(int64_t deadline)
{
	ng_m *m = ng_getm();
	if (m != NULL && m->curg != NULL) {
		if (deadline != NG_FOREVER && deadline <= ng_nanotime()) {
			ng_yield(); /* Go's Sleep(0) is a no-op; a yield is kinder here */
			return 0;
		}
		ng_waiter w;
		waiter_init(&w);
		ng_waiter_sleep(&w, NG_WAIT_SLEEP, deadline, NULL, NULL);
		return 0;
	}
	if (deadline == NG_FOREVER) {
		ng_waiter w;
		waiter_init(&w);
		ng_waiter_sleep(&w, NG_WAIT_SLEEP, deadline, NULL, NULL);
		return 0; /* not reached: nothing wakes it */
	}
	struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return 0;
}

int ng_sleep(int64_t ns)
{
	if (ns <= 0)
		return ng_sleep_until(0);
	return ng_sleep_until(ng_time_add(ng_nanotime(), ns));
}

/* ---- ng_after: a one-shot timer owning a reference to its channel ---- */

static void after_fire(ng_tmr *t, int64_t now)
{
	ng_chan *c = t->arg;
	if (now != 0)
		ng_chan_try_send(c, &now);
	ng_chan_release(c);
	ng_gauge_add(NG_GAUGE_TIMERS, -1);
}

ng_chan *ng_after(int64_t ns)
{
	ng_chan *c = ng_chan_make(sizeof(int64_t), 1);
	if (c == NULL)
		return NULL;
	ng_tmr *t = malloc(sizeof *t);
	if (t == NULL) {
		ng_chan_release(c);
		errno = ENOMEM;
		return NULL;
	}
	*t = (ng_tmr)NG_TMR_INIT(after_fire, c);
	t->flags = NG_TMR_F_FREE;
	ng_chan_retain(c); /* the timer's reference */
	ng_gauge_add(NG_GAUGE_TIMERS, 1);
	ng_tmr_add(t, ng_time_add(ng_nanotime(), ns > 0 ? ns : 0));
	return c;
}

/* ---- ng_timer: one-shot or periodic, ticks dropped when nobody reads ---- */

struct ng_timer {
	ng_tmr t;
	ng_chan *c;
};

static void ticker_fire(ng_tmr *t, int64_t now)
{
	ng_timer *tm = t->arg;
	ng_chan_try_send(tm->c, &now);
}

ng_timer *ng_timer_start(int64_t first_ns, int64_t period_ns, ng_chan **out)
{
	if (out == NULL || period_ns < 0) {
		errno = EINVAL;
		return NULL;
	}
	ng_timer *tm = malloc(sizeof *tm);
	if (tm == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	tm->c = ng_chan_make(sizeof(int64_t), 1);
	if (tm->c == NULL) {
		free(tm);
		return NULL;
	}
	tm->t = (ng_tmr)NG_TMR_INIT(ticker_fire, tm);
	tm->t.period = period_ns;
	ng_chan_retain(tm->c); /* the caller's reference */
	*out = tm->c;
	ng_gauge_add(NG_GAUGE_TIMERS, 1);
	ng_tmr_add(&tm->t, ng_time_add(ng_nanotime(), first_ns > 0 ? first_ns : 0));
	return tm;
}

int ng_timer_stop(ng_timer *tm)
{
	if (tm == NULL)
		return -EINVAL;
	ng_tmr_del(&tm->t); /* waits out a running tick */
	ng_chan_release(tm->c);
	free(tm);
	ng_gauge_add(NG_GAUGE_TIMERS, -1);
	return 0;
}
