/* core/sysmon.c — the system monitor: one thread outside the Ps (Go's sysmon).
 *
 * It takes Ps away from Ms stuck in blocking calls (ng_block_enter; Go's
 * retake), and it is the safety net for deferred wakes.  Go's ready() wakes an
 * idle P for every goroutine it readies.  For a hand-off into an empty
 * runnext that wake is nearly always wasted: the readier is a goroutine that
 * blocks right after (the other half of a channel or mutex hand-off) and
 * runs the readied one itself, while the woken M finds nothing to steal (a
 * fresh runnext is protected for 3 us) and spins.  The wake costs the
 * readier a futex call and the spinner costs it cache lines: ChanSync at
 * 2 Ps went 41 -> 37 ns/op without them.  So ng_ready only marks the P as
 * owing a wake; the owner clears the mark when it switches in with runnext
 * empty.  If instead the readier keeps running, sysmon sees a P that owes a
 * wake and has not switched for a whole tick, and does the wakep then; the
 * woken spinner steals runnext as it would have after Go's wake.
 *
 * Ticks follow Go: 20 us, doubling after 1 ms with nothing to watch, up to
 * 10 ms.  Readies defer only while sysmon ticks at 20 us (sysmon_defer), so
 * a deferred wake waits at most about two ticks.  When no P is busy sysmon
 * sleeps until one is (idle processes stay idle).
 *
 * Later duties (preemption, polling) join this loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "internal.h"
#include "netpoll.h"
#include "runq.h"
#include "sched_inline.h"

#define S ng_sched_g

#define SYSMON_TICK_NS         20000LL
#define SYSMON_MAX_NS          10000000LL
#define SYSMON_IDLE_TICKS      50 /* ticks with nothing to watch before backing off */
#define SYSMON_TIMER_SLACK     1000
#define SYSMON_ACTIVE_HANDOFFS 8 /* per tick, to tick fast and defer wakes */

/* What sysmon saw of one P. */
typedef struct p_seen {
	uint32_t seq;       /* schedseq at the last tick */
	uint32_t handoffs;  /* handoffs at the last tick */
	uint64_t block;     /* block word when first seen blocked */
	int64_t blockwhen;  /* and when */
	uint32_t slicetick; /* slice seen running */
	int64_t slicewhen;  /* since (first seen) */
} p_seen;

#define RETAKE_IDLE_NS 10000000LL /* a blocked P with nothing queued waits this long */

/* Go's retake for blocking calls: a P whose M has been in one since the last
 * tick goes to another M if it has work queued, or if no other P is idle or
 * spinning (new work would have nowhere to go), or after 10 ms anyway.
 * Returns whether a P was taken. */
static bool retake_blocked(p_seen *seen, int64_t now)
{
	bool took = false;
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		p_seen *ps = &seen[i];
		uint64_t w = atomic_load_explicit(&p->block, memory_order_acquire);
		if ((w & 3) != NG_P_BLOCKED) {
			ps->block = 0;
			continue;
		}
		if (w != ps->block) { /* a new blocking call: look again next tick */
			ps->block = w;
			ps->blockwhen = now;
			continue;
		}
		bool work = !runq_empty(p) ||
		            atomic_load_explicit(&p->inbox_n, memory_order_relaxed) > 0 ||
		            atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0;
		bool spare = atomic_load_explicit(&S.npidle, memory_order_relaxed) +
		                 atomic_load_explicit(&S.nmspinning, memory_order_relaxed) >
		             0;
		if (!work && spare && now - ps->blockwhen < RETAKE_IDLE_NS)
			continue;
		if (atomic_compare_exchange_strong_explicit(
		        &p->block, &w, (w & ~(uint64_t)3) | NG_P_RETAKEN, memory_order_acq_rel,
		        memory_order_relaxed)) {
			ps->block = 0;
			ng_handoff_p(p);
			took = true;
		}
	}
	return took;
}

/* One look at every P.  Returns whether Ps readied into runnext often since
 * the last tick while some P was idle or spinning (deferring is worth a
 * fast tick). */
static bool check_deferred_wakes(p_seen *seen)
{
	uint32_t handoffs = 0;
	/* A P held by a spinning M is as good as idle: that M is what a wake
	 * would start. */
	bool idle_ps = atomic_load_explicit(&S.npidle, memory_order_relaxed) > 0 ||
	               atomic_load_explicit(&S.nmspinning, memory_order_relaxed) > 0;
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		p_seen *ps = &seen[i];
		uint32_t seq = RQ_LOAD(&p->schedseq, relaxed);
		uint32_t h = RQ_LOAD(&p->handoffs, relaxed);
		handoffs += h - ps->handoffs;
		ps->handoffs = h;
		/* Owed, still waiting in runnext, and the P has not switched in
		 * a whole tick: the readier is a long runner. */
		if (RQ_LOAD(&p->wake_owed, relaxed) && RQ_LOAD(&p->runnext, relaxed) != NULL &&
		    RQ_LOAD(&p->m, relaxed) != NULL && seq == ps->seq) {
			atomic_fetch_add_explicit(&S.stat_sysmon_wakes, 1, memory_order_relaxed);
			ng_wakep();
		}
		ps->seq = seq;
	}
	/* A rate worth ticking fast for: a timer's or a lone message's ready
	 * is not (its wake costs little next to sysmon's 50 fast ticks). */
	return idle_ps && handoffs >= SYSMON_ACTIVE_HANDOFFS;
}

/* Go's preemption half of retake: a P whose slice (slicetick) has not
 * changed for time_slice since sysmon first saw it gets a request
 * (preempt.c), repeated every tick until the slice ends.  Requests about
 * slices that have ended are withdrawn.  Returns whether some P is busy; *expiry is when the
 * oldest slice seen runs out.  Sysmon then ticks at least four times a
 * slice and wakes at that expiry, so a slice overruns by a quarter of one
 * at most (the delay before sysmon first saw it). */
static bool check_slices(p_seen *seen, int64_t now, int64_t *expiry)
{
	bool busy = false;
	*expiry = INT64_MAX;
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		p_seen *ps = &seen[i];
		uint32_t tick = RQ_LOAD(&p->slicetick, relaxed);
		uint32_t want = RQ_LOAD(&p->preempt, relaxed);
		if (want != 0 && want - 1 != tick)
			ng_preempt_clear(p, want); /* that slice ended: withdraw */
		/* A P whose goroutine is in a blocking call still runs its
		 * slice (Go counts _Psyscall too): a goroutine that makes short
		 * blocking calls back to back renews the block word every time,
		 * so retake_blocked never sees the same call twice, and only
		 * the slice ending takes the P for the goroutines queued behind
		 * it (Go's sysretake). */
		/* (A retaken P keeps NG_P_RETAKEN in its block word until its
		 * next blocking call, though its new M runs goroutines: it
		 * counts as running too, or a hand-off chain on it was never
		 * asked to yield and the global queue starved.) */
		uint64_t blk = atomic_load_explicit(&p->block, memory_order_acquire);
		bool blocked = (blk & 3) == NG_P_BLOCKED;
		bool running = RQ_LOAD(&p->m, relaxed) != NULL;
		if (!running || tick != ps->slicetick) {
			ps->slicetick = tick;
			ps->slicewhen = now;
			busy |= running;
			continue;
		}
		busy = true;
		/* the base slice, adapted to the P's counter phase (slice.c) */
		bool waiting =
		    !runq_empty(p) || atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0;
		int64_t slice = ng_slice_for(
		    S.time_slice, atomic_load_explicit(&p->phase, memory_order_relaxed), waiting);
		if (now - ps->slicewhen >= slice) {
			if (!blocked) {
				ng_preempt_request(p, tick);
			} else if (atomic_compare_exchange_strong_explicit(
			               &p->block, &blk, (blk & ~(uint64_t)3) | NG_P_RETAKEN,
			               memory_order_acq_rel, memory_order_relaxed)) {
				/* no signal: it would interrupt the blocking call */
				ps->block = 0;
				ng_handoff_p(p);
			}
		} else {
			if (ps->slicewhen + slice < *expiry)
				*expiry = ps->slicewhen + slice;
		}
	}
	return busy;
}

/* Sleep while every P is idle: nothing can owe a wake then, and an idle
 * process should not tick.  ng_sysmon_busy_locked ends it. */
static void wait_while_idle(void)
{
	pthread_mutex_lock(&S.lock);
	if (atomic_load_explicit(&S.npidle, memory_order_relaxed) == S.nprocs &&
	    !atomic_load_explicit(&S.stopping, memory_order_relaxed)) {
		S.sysmon_waiting = true;
		pthread_mutex_unlock(&S.lock);
		ng_note_sleep(&S.sysmon_note);
		ng_note_clear(&S.sysmon_note);
		return;
	}
	pthread_mutex_unlock(&S.lock);
}

static void *sysmon_main(void *arg)
{
	p_seen *seen = arg;
	/* The default 50 us slack would turn a 20 us tick into 70. */
	prctl(PR_SET_TIMERSLACK, SYSMON_TIMER_SLACK, 0, 0, 0);
	int64_t delay = SYSMON_TICK_NS;
	int idle = 0;
	/* NUMAGO_DEBUG=schedtrace=MS (perf/schedtrace.c): a line every MS,
	 * idle or not, so sysmon then never sleeps longer than that. */
	int64_t trace_every = (int64_t)ng_debug_g.schedtrace_ms * 1000000;
	int64_t next_trace = INT64_MAX;
	if (trace_every > 0) {
		ng_schedtrace_start(ng_nanotime());
		next_trace = ng_nanotime() + trace_every;
	}
	while (!atomic_load_explicit(&S.stopping, memory_order_acquire)) {
		if (ng_note_sleep_until(&S.sysmon_note, ng_nanotime() + delay))
			ng_note_clear(&S.sysmon_note);
		if (atomic_load_explicit(&S.stopping, memory_order_acquire))
			break;
		int64_t now = ng_nanotime();
		if (now >= next_trace) {
			ng_schedtrace(now);
			next_trace += trace_every;
			if (next_trace <= now) /* sysmon was held up: no burst */
				next_trace = now + trace_every;
		}
		ng_sched_retry_newm(now); /* Ps left without an M (sched.c) */
		bool took = retake_blocked(seen, now);
		ng_netpoll_sysmon(now); /* all Ps busy: nobody else polls */
		if (atomic_load_explicit(&ng_ext_poll_active, memory_order_relaxed) > 0)
			ng_ext_poll();
		int64_t expiry;
		bool busy = check_slices(seen, now, &expiry);
		if (check_deferred_wakes(seen) || took) {
			idle = 0;
			delay = SYSMON_TICK_NS;
			atomic_store_explicit(&S.sysmon_defer, 1, memory_order_relaxed);
			continue;
		}
		if (++idle <= SYSMON_IDLE_TICKS)
			continue;
		if (atomic_load_explicit(&S.sysmon_defer, memory_order_relaxed)) {
			/* Stop deferring first and tick once more at the fast
			 * rate: a ready that read sysmon_defer just before the
			 * store still gets its wake checked within a tick.  (One
			 * preempted by the OS between its read and its mark waits
			 * for the next slow tick at most.) */
			atomic_store_explicit(&S.sysmon_defer, 0, memory_order_relaxed);
			continue;
		}
		delay *= 2;
		if (delay > SYSMON_MAX_NS)
			delay = SYSMON_MAX_NS;
		if (busy && delay > S.time_slice / 4)
			delay = S.time_slice / 4;
		if (expiry != INT64_MAX && expiry - now < delay)
			delay = expiry - now > SYSMON_TICK_NS ? expiry - now : SYSMON_TICK_NS;
		if (next_trace - now < delay)
			delay =
			    next_trace - now > SYSMON_TICK_NS ? next_trace - now : SYSMON_TICK_NS;
		/* Asleep while every P is idle; woken at the slow tick, which
		 * goes fast again only once hand-offs are seen: a process that
		 * wakes for a timer now and then stays nearly free. */
		if (atomic_load_explicit(&S.npidle, memory_order_relaxed) == S.nprocs &&
		    trace_every <= 0)
			wait_while_idle();
	}
	free(seen);
	return NULL;
}

void ng_sysmon_busy_locked(void)
{
	if (S.sysmon_waiting) {
		S.sysmon_waiting = false;
		ng_note_wakeup(&S.sysmon_note);
	}
}

/* Without its thread a P stuck in a blocking call is never handed on and
 * no slice ends: boot fails instead (-EAGAIN, reported by boot). */
int ng_sysmon_start(void)
{
	p_seen *seen = calloc((size_t)S.nprocs, sizeof *seen);
	if (seen == NULL) {
		ng_warn("sysmon: out of memory; readies wake idle Ps directly");
		return 0;
	}
	ng_note_clear(&S.sysmon_note);
	S.sysmon_waiting = false;
	atomic_store(&S.sysmon_defer, 1);
	pthread_mutex_lock(&S.lock);
	S.sysmon_running = 1; /* before it exists: the deadlock detector counts it */
	int rc = ng_runtime_thread_create_locked(&S.sysmon_thread, NULL, sysmon_main, seen);
	if (rc != 0)
		S.sysmon_running = 0;
	pthread_mutex_unlock(&S.lock);
	if (rc != 0) {
		atomic_store(&S.sysmon_defer, 0);
		free(seen);
		return -rc;
	}
	return 0;
}

/* S.stopping is set. */
void ng_sysmon_stop(void)
{
	if (!S.sysmon_running)
		return;
	atomic_store(&S.sysmon_defer, 0);
	pthread_mutex_lock(&S.lock);
	S.sysmon_waiting = false;
	pthread_mutex_unlock(&S.lock);
	ng_note_wakeup(&S.sysmon_note);
	pthread_join(S.sysmon_thread, NULL);
	S.sysmon_running = 0;
}
