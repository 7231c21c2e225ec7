/* core/sched_inline.h — the scheduler's hot paths, inline.
 *
 * Spawn, yield, park and exit each run these once per operation, so they
 * must not cost a call: the run-queue put, the post-switch actions for the
 * common cases, and wakep's "anyone idle?" test.  Everything rarer stays out
 * of line in sched.c. */
#ifndef NG_CORE_SCHED_INLINE_H
#define NG_CORE_SCHED_INLINE_H

#include "internal.h"
#include "runq.h"

#if NG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

void ng_runq_put_slow(ng_p *p, ng_g *g, bool next);
void ng_wakep_slow(void);
void ng_ready(ng_g *g);
void ng_ready_slow(ng_g *g);

/* Put g on p's queue (p is ours): into runnext when next, else the tail. */
static inline void ng_runq_put(ng_p *p, ng_g *g, bool next)
{
	if (next) {
		/* Thieves only ever move runnext from a G to NULL, and only the
		 * owner (us) from NULL to a G: into an empty slot a plain store
		 * is enough. */
		if (NG_LIKELY(RQ_LOAD(&p->runnext, relaxed) == NULL)) {
			RQ_STORE(&p->runnext, g, release);
			return;
		}
	} else {
		uint32_t head = RQ_LOAD(&p->runqhead, acquire);
		uint32_t tail = RQ_LOAD(&p->runqtail, relaxed);
		if (NG_LIKELY(tail - head < NG_RUNQ_SIZE)) {
			RQ_STORE(&p->runq[tail % NG_RUNQ_SIZE], g, relaxed);
			RQ_STORE(&p->runqtail, tail + 1, release);
			return;
		}
	}
	ng_runq_put_slow(p, g, next);
}

/* A goroutine has finished and we are off its stack: it is DEAD, and its
 * TSan fiber (which must not be the current one) goes. */
static inline void ng_g_mark_dead(ng_g *g)
{
	atomic_store_explicit(&g->status, NG_G_DEAD, memory_order_relaxed);
#if NG_TSAN
	if (g->ctx.tsan_fiber != NULL) {
		__tsan_destroy_fiber(g->ctx.tsan_fiber);
		g->ctx.tsan_fiber = NULL;
	}
#endif
}

/* Start a spinning M if a P is idle and nobody spins (Go's wakep). */
static inline void ng_wakep(void)
{
	if (atomic_load_explicit(&ng_sched_g.npidle, memory_order_seq_cst) != 0)
		ng_wakep_slow();
}

/* Make g runnable (ng_ready_on: from the goroutine holding p).  The common
 * case, inline: a hand-off from a goroutine
 * into its P's empty runnext.  The readier nearly always blocks next and
 * runs g itself, so while sysmon lets it (it ticks fast enough to pay the
 * wake if the readier keeps running instead, sysmon.c) and nothing else is
 * queued the wake is owed, not paid; otherwise wakep, which with no P idle
 * (a busy or 1-P runtime) is one load.  Everything else: ng_ready_slow. */
static inline void ng_ready_on(ng_p *p, ng_g *g)
{
	if (NG_LIKELY(!g->pinned) &&
	    NG_LIKELY(atomic_load_explicit(&g->status, memory_order_relaxed) == NG_G_WAITING) &&
	    RQ_LOAD(&p->runnext, relaxed) == NULL) {
		atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_release);
		RQ_STORE(&p->runnext, g, release);
		OWN_ADD(p->handoffs, 1);
		if (atomic_load_explicit(&ng_sched_g.sysmon_defer, memory_order_relaxed) &&
		    runq_size(p) == 0)
			RQ_STORE(&p->wake_owed, 1, relaxed);
		else
			ng_wakep();
		return;
	}
	ng_ready_slow(g);
}

static inline void ng_ready_inline(ng_g *g)
{
	ng_m *m = ng_getm();
	ng_p *p;
	if (NG_LIKELY(m != NULL && (p = m->p) != NULL))
		ng_ready_on(p, g);
	else
		ng_ready_slow(g);
}

int64_t ng_timers_run(ng_p *p, int64_t now);

/* A goroutine was switched in (and what the previous one asked for is
 * done, so no lock of a parking goroutine is held): run due timers, looking
 * at the clock only every 8th switch while timers are pending — switches
 * take ~15 ns, so that is well under a microsecond of lateness. */
static inline void ng_timers_poll(ng_m *m)
{
	ng_p *p = m->p;
	if (NG_UNLIKELY(atomic_load_explicit(&p->timer_next, memory_order_relaxed) != INT64_MAX) &&
	    (++p->tpoll & 7) == 0)
		ng_timers_run(p, 0);
}

/* Run what the G we just left asked for (see internal.h), inline for the
 * frequent cases. */
static inline __attribute__((always_inline)) void ng_post_switch_inline(ng_m *m)
{
	int after = m->after;
	if (NG_LIKELY(after == NG_AFTER_NONE))
		return;
	ng_g *g = m->after_g;
	ng_p *p = m->p;
	if (after == NG_AFTER_PARK) {
		ng_unlockf fn = m->after_fn;
		m->after = NG_AFTER_NONE;
		m->after_g = NULL;
		if (fn != NULL && !fn(g, m->after_arg))
			ng_ready(g);
		return;
	}
	if (after == NG_AFTER_YIELD && NG_LIKELY(!g->pinned)) {
		m->after = NG_AFTER_NONE;
		atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_relaxed);
		ng_runq_put(p, g, false);
		return;
	}
	if (after == NG_AFTER_EXIT && NG_LIKELY(g->stack.pooled) &&
	    NG_LIKELY(RELAXED(p->gfree_n) < NG_GFREE_LOCAL_MAX)) {
		m->after = NG_AFTER_NONE;
		ng_g_mark_dead(g);
		g->schedlink = p->gfree;
		p->gfree = g;
		OWN_ADD(p->gfree_n, 1);
		return;
	}
	ng_post_switch(m);
}

#endif
