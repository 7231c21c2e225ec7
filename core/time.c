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

static void no_unlock(void *arg)
{
	(void)arg;
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
		ng_waiter_sleep(&w, NG_WAIT_SLEEP, deadline, no_unlock, NULL);
		return 0;
	}
	if (deadline == NG_FOREVER) {
		ng_waiter w;
		waiter_init(&w);
		ng_waiter_sleep(&w, NG_WAIT_SLEEP, deadline, no_unlock, NULL);
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
	return ng_sleep_until(ng_nanotime() + ns);
}
