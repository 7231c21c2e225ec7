/* core/timer.c — per-P timer heaps (see timer.h).
 *
 * Each P has a 4-ary min-heap on `when`, guarded by a small spinlock so any
 * thread can add to it; p->timer_next mirrors the root so the scheduler can
 * skip the lock (and the clock read) when nothing is due.
 *
 * Sleeping: an idle M that finds timers pending sleeps on its park note
 * until the earliest one and advertises itself in S.timer_sleeper /
 * S.timer_sleep_when (sched.c, stopm).  Adding a timer that is earlier than
 * the advertised wake time pokes that M.  The protocol is Dekker-shaped:
 * the adder publishes the timer and then reads timer_sleep_when, the
 * sleeper publishes timer_sleep_when and then re-reads the heaps, both
 * seq_cst, so at least one of them sees the other.
 */
#define _GNU_SOURCE
#include "timer.h"

#include "netpoll.h"
#include "sched_inline.h"

#include <errno.h>
#include <stdlib.h>

#define S ng_sched_g

static inline void tlock(ng_p *p)
{
	ng_spin_lock(&p->tlock);
}

static inline void tunlock(ng_p *p)
{
	ng_spin_unlock(&p->tlock);
}

/* ---- 4-ary heap, Go's siftupTimer/siftdownTimer ---- */

static void heap_set(ng_p *p, int32_t i, ng_tmr *t)
{
	p->theap[i] = t;
	t->idx = i;
}

static void sift_up(ng_p *p, int32_t i)
{
	ng_tmr *t = p->theap[i];
	while (i > 0) {
		int32_t parent = (i - 1) / 4;
		if (t->when >= p->theap[parent]->when)
			break;
		heap_set(p, i, p->theap[parent]);
		i = parent;
	}
	heap_set(p, i, t);
}

static void sift_down(ng_p *p, int32_t i)
{
	int32_t n = p->tn;
	ng_tmr *t = p->theap[i];
	for (;;) {
		int32_t c = 4 * i + 1;
		if (c >= n)
			break;
		int32_t best = c;
		for (int32_t k = c + 1; k < c + 4 && k < n; k++)
			if (p->theap[k]->when < p->theap[best]->when)
				best = k;
		if (p->theap[best]->when >= t->when)
			break;
		heap_set(p, i, p->theap[best]);
		i = best;
	}
	heap_set(p, i, t);
}

static void publish_next(ng_p *p)
{
	atomic_store_explicit(&p->timer_next, p->tn > 0 ? p->theap[0]->when : INT64_MAX,
	                      memory_order_seq_cst);
}

static void heap_remove(ng_p *p, ng_tmr *t)
{
	int32_t i = t->idx;
	int32_t last = --p->tn;
	t->idx = -1;
	if (i != last) {
		heap_set(p, i, p->theap[last]);
		if (i > 0 && p->theap[i]->when < p->theap[(i - 1) / 4]->when)
			sift_up(p, i);
		else
			sift_down(p, i);
	}
	p->theap[last] = NULL;
}

static bool heap_push(ng_p *p, ng_tmr *t)
{
	if (p->tn == p->tcap) {
		int32_t cap = p->tcap ? 2 * p->tcap : 64;
		ng_tmr **h = realloc(p->theap, (size_t)cap * sizeof *h);
		if (h == NULL)
			return false;
		p->theap = h;
		p->tcap = cap;
	}
	heap_set(p, p->tn++, t);
	sift_up(p, t->idx);
	return true;
}

/* ---- waking the idle M that sleeps until the earliest timer ---- */

void ng_timers_poke(int64_t when)
{
	if (when >= atomic_load_explicit(&S.timer_sleep_when, memory_order_seq_cst))
		return;
	ng_m *m = atomic_load_explicit(&S.timer_sleeper, memory_order_seq_cst);
	if (m != NULL) {
		ng_park_wakeup(m); /* it may sleep in epoll_wait */
		return;
	}
	/* Nobody sleeps on the timers.  A goroutine's own M will see its new
	 * timer when it next schedules or goes idle; anyone else starts an
	 * idle M (if there is an idle P), which will sleep on it. */
	ng_m *self = ng_getm();
	if (self == NULL || self->p == NULL)
		ng_wakep();
}

void ng_tmr_add(ng_tmr *t, int64_t when)
{
	ng_m *m = ng_getm();
	ng_p *p;
	if (m != NULL && m->p != NULL)
		p = m->p;
	else
		p = S.allp[ng_fastrand() % (uint32_t)S.nprocs];
	for (;;) {
		/* a queued timer being moved: take it out of its heap first */
		int32_t st = atomic_load_explicit(&t->state, memory_order_acquire);
		if (st == NG_TMR_QUEUED) {
			ng_tmr_del(t);
			continue;
		}
		break;
	}
	tlock(p);
	t->when = when;
	t->pid = p->id;
	if (!heap_push(p, t)) {
		tunlock(p);
		ng_fatal("timer: out of memory growing the timer heap of P %d", p->id);
	}
	atomic_store_explicit(&t->state, NG_TMR_QUEUED, memory_order_release);
	if (t->idx == 0)
		publish_next(p);
	tunlock(p);
	ng_timers_poke(when);
}

bool ng_tmr_del(ng_tmr *t)
{
	for (;;) {
		int32_t st = atomic_load_explicit(&t->state, memory_order_acquire);
		if (st == NG_TMR_IDLE)
			return false;
		if (st == NG_TMR_RUNNING) {
			/* the callback is short and never blocks */
			ng_cpu_relax();
			continue;
		}
		int32_t pid = t->pid;
		if (pid < 0 || pid >= S.nprocs)
			continue; /* being (re)queued: look again */
		ng_p *p = S.allp[pid];
		tlock(p);
		if (t->pid == pid && t->idx >= 0 &&
		    atomic_load_explicit(&t->state, memory_order_relaxed) == NG_TMR_QUEUED) {
			bool root = t->idx == 0;
			heap_remove(p, t);
			t->pid = -1;
			atomic_store_explicit(&t->state, NG_TMR_IDLE, memory_order_release);
			if (root)
				publish_next(p);
			tunlock(p);
			return true;
		}
		tunlock(p);
	}
}

int64_t ng_timers_run(ng_p *p, int64_t now)
{
	int64_t next = atomic_load_explicit(&p->timer_next, memory_order_acquire);
	if (next == INT64_MAX)
		return next;
	if (now == 0)
		now = ng_nanotime();
	if (next > now)
		return next;
	ng_m *m = ng_getm();
	if (m != NULL)
		m->in_timers = true;
	tlock(p);
	while (p->tn > 0 && p->theap[0]->when <= now) {
		ng_tmr *t = p->theap[0];
		heap_remove(p, t);
		t->pid = -1;
		atomic_store_explicit(&t->state, NG_TMR_RUNNING, memory_order_release);
		publish_next(p);
		if (t->flags & NG_TMR_F_NOWAIT) {
			atomic_store_explicit(&t->state, NG_TMR_IDLE, memory_order_release);
			tunlock(p);
			t->fn(t, now);
			tlock(p);
			continue;
		}
		tunlock(p);
		if (t->flags & NG_TMR_F_FREE) {
			t->fn(t, now);
			free(t);
			tlock(p);
			continue;
		}
		t->fn(t, now);
		if (t->period > 0) {
			/* Go's Ticker: the next tick follows the schedule, not the
			 * late run; ticks missed entirely are skipped. */
			int64_t w = ng_time_add(t->when, t->period);
			if (w <= now)
				w += ((now - w) / t->period + 1) * t->period;
			tlock(p);
			t->when = w;
			t->pid = p->id;
			if (!heap_push(p, t)) {
				tunlock(p);
				ng_fatal("timer: out of memory growing the timer heap of P %d",
				         p->id);
			}
			atomic_store_explicit(&t->state, NG_TMR_QUEUED, memory_order_release);
			publish_next(p);
			tunlock(p);
			ng_timers_poke(w); /* an idle M may sleep past the new tick */
			tlock(p);
			continue;
		}
		atomic_store_explicit(&t->state, NG_TMR_IDLE, memory_order_release);
		tlock(p);
	}
	publish_next(p);
	next = atomic_load_explicit(&p->timer_next, memory_order_relaxed);
	tunlock(p);
	if (m != NULL)
		m->in_timers = false;
	return next;
}

int64_t ng_timers_earliest(void)
{
	int64_t e = INT64_MAX;
	for (int i = 0; i < S.nprocs; i++) {
		int64_t w = atomic_load_explicit(&S.allp[i]->timer_next, memory_order_seq_cst);
		if (w < e)
			e = w;
	}
	return e;
}

int64_t ng_timers_count(void)
{
	int64_t n = 0;
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		tlock(p);
		n += p->tn;
		tunlock(p);
	}
	return n;
}

bool ng_timers_pending(void)
{
	return ng_timers_earliest() != INT64_MAX;
}

int ng_timers_pending_hook(void)
{
	return ng_timers_pending();
}

void ng_timers_init(void)
{
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		atomic_store(&p->timer_next, INT64_MAX);
		atomic_store(&p->tlock, 0);
		p->theap = NULL;
		p->tn = p->tcap = 0;
	}
	atomic_store(&S.timer_sleeper, NULL);
	atomic_store(&S.timer_sleep_when, INT64_MAX);
	ng_register_pending_waker(ng_timers_pending_hook);
}

void ng_timers_fini(void)
{
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		/* timers still queued belong to their owners; forget them */
		for (int32_t k = 0; k < p->tn; k++) {
			ng_tmr *t = p->theap[k];
			t->idx = -1;
			t->pid = -1;
			atomic_store(&t->state, NG_TMR_IDLE);
			uint32_t fl = t->flags;
			if (fl & (NG_TMR_F_FREE | NG_TMR_F_NOWAIT)) {
				t->fn(t, 0); /* now == 0: cancelled, release what you hold */
				if (fl & NG_TMR_F_FREE)
					free(t);
			}
		}
		free(p->theap);
		p->theap = NULL;
		p->tn = p->tcap = 0;
	}
}
