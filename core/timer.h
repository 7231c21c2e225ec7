/* core/timer.h — runtime timers: per-P 4-ary heaps (Go's time.go).
 *
 * A timer is a record the caller owns (often on a goroutine's stack) with a
 * callback.  ng_tmr_add puts it into a P's heap (the caller's P, or P 0 from
 * a foreign thread); the scheduler runs due callbacks between goroutines,
 * idle Ms steal due timers from busy Ps, and the last M to go idle sleeps
 * until the earliest timer.  Callbacks run on an M's g0 (or a foreign
 * caller's thread, never), with a P held, under no lock: they must be short
 * and must not block (ready a G, try-send on a channel).  A pending timer
 * holds off the deadlock detector. */
#ifndef NG_CORE_TIMER_H
#define NG_CORE_TIMER_H

#include "internal.h"

typedef struct ng_tmr ng_tmr;
typedef void (*ng_tmr_fn)(ng_tmr *t, int64_t now);

struct ng_tmr {
	int64_t when;   /* absolute CLOCK_MONOTONIC ns */
	int64_t period; /* > 0: re-armed at when + period after each run */
	ng_tmr_fn fn;
	void *arg;
	int32_t idx;           /* index in its heap, -1 when not in one; heap lock */
	_Atomic int32_t pid;   /* P whose heap holds it; written under that heap lock */
	_Atomic int32_t state; /* NG_TMR_* */
	uint32_t flags;        /* NG_TMR_F_* */
};

/* One-shot timer the runtime free()s after its callback returns: nobody
 * may ng_tmr_del it (ng_after's).  At shutdown, one still queued gets its
 * callback with now == 0 (release, don't fire) and is freed. */
#define NG_TMR_F_FREE 1u
/* One-shot timer that is IDLE (and untouched by the runtime) from the
 * moment its callback starts: ng_tmr_del never waits for it, so the
 * callback may free the record.  The owner keeps what the callback needs
 * alive by other means (a reference the callback drops). */
#define NG_TMR_F_NOWAIT 2u

enum { NG_TMR_IDLE = 0, NG_TMR_QUEUED = 1, NG_TMR_RUNNING = 2 };

#define NG_TMR_INIT(fn_, arg_)                    \
	{                                         \
		0, 0, (fn_), (arg_), -1, -1, 0, 0 \
	}

/* Arm t at `when` (re-arming a queued timer moves it). */
void ng_tmr_add(ng_tmr *t, int64_t when);
/* Disarm: true if it was queued and will not run.  If its callback is
 * running on another thread, waits for it to return, so afterwards t may be
 * freed. */
bool ng_tmr_del(ng_tmr *t);

/* Scheduler side (sched.c). */
/* Run p's due timers; returns the earliest remaining `when` (INT64_MAX if
 * none).  now may be 0 (read it only if something could be due). */
int64_t ng_timers_run(ng_p *p, int64_t now);
/* Earliest `when` over every P (INT64_MAX if none). */
int64_t ng_timers_earliest(void);
bool ng_timers_pending(void);
/* ng_timers_pending as a pending-waker hook (sched.c tells it apart) */
int ng_timers_pending_hook(void);
/* Timers queued in all heaps now (ng_stats). */
int64_t ng_timers_count(void);
/* A timer at `when` was queued: wake the idle M sleeping until later. */
void ng_timers_poke(int64_t when);
void ng_timers_init(void);
void ng_timers_fini(void);

#endif
