/* core/netpoll.h — the fd poller (netpoll.c) as the scheduler sees it.
 *
 * Who polls (Go's scheme, proc.go):
 *  - an M that finds no local or global work polls without blocking before
 *    it steals (findrunnable), while goroutines wait on fds;
 *  - the idle M that sleeps until the earliest timer (stopm_sleep) sleeps in
 *    epoll_wait instead of on its futex while goroutines wait on fds, so an
 *    idle process still has no thread that ticks;
 *  - sysmon polls when nobody did for 10 ms (all Ps busy).
 * Whatever wakes that M's park note must also break its epoll_wait:
 * ng_park_wakeup does both. */
#ifndef NG_CORE_NETPOLL_H
#define NG_CORE_NETPOLL_H

#include "internal.h"

/* Goroutines parked on fds.  The scheduler's only cost while nobody uses
 * fds is a relaxed load of it. */
extern _Atomic int32_t ng_np_nwait;
/* The idle M blocked in (or about to enter) epoll_wait, NULL if none. */
extern _Atomic(ng_m *) ng_np_poll_m;

static inline bool ng_netpoll_waiting(void)
{
	return atomic_load_explicit(&ng_np_nwait, memory_order_relaxed) > 0;
}

/* Interrupt a blocking epoll_wait (no-op before the poller exists). */
void ng_netpoll_break(void);

/* Wake idle M m from its park note, or from epoll_wait if it polls there.
 * Note then poller, against ng_netpoll_block's poller then note, all
 * seq_cst (the RMW stands in for a fence, which TSan cannot model): one of
 * the two sees the other. */
static inline void ng_park_wakeup(ng_m *m)
{
	ng_note_wakeup(&m->park);
	atomic_fetch_or_explicit(&m->park.key, 0, memory_order_seq_cst);
	if (NG_UNLIKELY(atomic_load_explicit(&ng_np_poll_m, memory_order_seq_cst) == m))
		ng_netpoll_break();
}

/* Goroutines waiting on fds exist and sleeper (the timer sleeper) may have
 * chosen its futex before they appeared: make it look again. */
static inline void ng_netpoll_nudge(ng_m *sleeper)
{
	if (sleeper != NULL && atomic_load_explicit(&ng_np_poll_m, memory_order_seq_cst) != sleeper)
		ng_note_wakeup(&sleeper->park);
}

/* Poll without blocking: the goroutines made ready, linked by schedlink and
 * still WAITING (ng_inject_glist makes them runnable), or NULL.  NULL at
 * once while an M blocks in epoll_wait: that one delivers. */
ng_g *ng_netpoll_nb(void);
/* Idle M m (no P) blocks in epoll_wait until an fd event, a wake of its park
 * note, or `until` (absolute ns; INT64_MAX: no limit). */
ng_g *ng_netpoll_block(ng_m *m, int64_t until);
/* sysmon, each tick: poll if fds are waited on and nobody polled for 10 ms. */
void ng_netpoll_sysmon(int64_t now);
/* Runtime shutdown (Ms joined): close the epoll set, forget registrations
 * and the waiters of abandoned goroutines. */
void ng_netpoll_fini(void);

/* sched.c: Go's injectglist.  The Gs of list (schedlink-linked, WAITING)
 * become runnable: as many as there are idle Ps go to the global queue with
 * an M started for each, the rest to the caller's P (all to the global
 * queue without one).  With take and a P, one is returned for the caller
 * to run instead. */
ng_g *ng_inject_glist(ng_g *list, bool take);

#endif
