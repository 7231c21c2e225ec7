/* core/select.c — ng_select (Go's runtime/select.go).
 *
 * Go's algorithm: cases are polled in a random order; all channels are
 * locked in address order (each once, however many cases use it), a first
 * pass takes any ready case, else the caller queues one waiter per case on
 * every channel, sleeps, and on wakeup locks everything again to unlink the
 * waiters that did not fire.  All waiters of one select share one claim
 * word, so exactly one case (or the deadline) wins.
 *
 * In front of that sits a fast path Go does not have: in poll order, a case
 * that looks ready lock-free is tried with only its own channel locked.  A
 * success there is a case that really was ready at that instant; when
 * nothing looks ready, the locked pass decides (so a non-blocking select
 * never reports "none ready" from a stale look).
 */
#define _GNU_SOURCE
#include "chan.h"

#include <errno.h>
#include <stdlib.h>

#define SELECT_MAX_CASES  65536
#define SELECT_STACK_CASE 16

/* Try case k with its channel locked: true if it ran (rc set); a waiter it
 * paired with (a hand-off) is left in *wake, for the caller to count and
 * wake after unlocking (chan_wake_xfer). */
static bool try_case_locked(ng_case *k, ng_waiter **wake)
{
	ng_chan *c = k->chan;
	if (k->op == NG_RECV) {
		ng_waiter *s = waitq_pop(&c->sendq);
		if (s != NULL) {
			chan_recv_direct(c, s, k->elem);
			k->rc = 0;
			*wake = s;
			return true;
		}
		if (atomic_load_explicit(&c->qcount, memory_order_relaxed) > 0) {
			chan_buf_take(c, k->elem);
			k->rc = 0;
			return true;
		}
		if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
			chan_zero(c, k->elem);
			k->rc = -EPIPE;
			return true;
		}
		return false;
	}
	if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
		k->rc = -EPIPE;
		return true;
	}
	ng_waiter *r = waitq_pop(&c->recvq);
	if (r != NULL) {
		chan_send_direct(c, r, k->elem);
		k->rc = 0;
		*wake = r;
		return true;
	}
	if (atomic_load_explicit(&c->qcount, memory_order_relaxed) < c->cap) {
		chan_buf_put(c, k->elem);
		k->rc = 0;
		return true;
	}
	return false;
}

static inline bool looks_ready(const ng_case *k)
{
	ng_chan *c = k->chan;
	if (atomic_load_explicit(&c->closed, memory_order_relaxed))
		return true;
	if (k->op == NG_RECV)
		return waitq_nonempty_relaxed(&c->sendq) ||
		       atomic_load_explicit(&c->qcount, memory_order_relaxed) > 0;
	return waitq_nonempty_relaxed(&c->recvq) ||
	       atomic_load_explicit(&c->qcount, memory_order_relaxed) < c->cap;
}

typedef struct sel {
	ng_case *cases;
	uint32_t *lockorder; /* enabled case indices sorted by channel address */
	uint32_t nlock;
} sel;

static void lock_all(sel *s)
{
	ng_chan *prev = NULL;
	for (uint32_t i = 0; i < s->nlock; i++) {
		ng_chan *c = s->cases[s->lockorder[i]].chan;
		if (c != prev)
			chan_lock(c);
		prev = c;
	}
}

static void unlock_all(void *arg)
{
	sel *s = arg;
	for (uint32_t i = s->nlock; i-- > 0;) {
		ng_chan *c = s->cases[s->lockorder[i]].chan;
		if (i == 0 || s->cases[s->lockorder[i - 1]].chan != c)
			chan_unlock(c);
	}
}

static int cmp_case_addr(const void *a, const void *b, void *arg)
{
	ng_case *cases = arg;
	uintptr_t x = (uintptr_t)cases[*(const uint32_t *)a].chan;
	uintptr_t y = (uintptr_t)cases[*(const uint32_t *)b].chan;
	return x < y ? -1 : x > y;
}

static void sort_lockorder(ng_case *cases, uint32_t *order, uint32_t n)
{
	if (n > 32) {
		qsort_r(order, n, sizeof *order, cmp_case_addr, cases);
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = order[i];
		uintptr_t a = (uintptr_t)cases[v].chan;
		uint32_t j = i;
		while (j > 0 && (uintptr_t)cases[order[j - 1]].chan > a) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
}

static int select_slow(ng_case *cases, int64_t deadline, const uint32_t *pollorder, uint32_t nen);

/* Out of line: ng_select may have parked and woken on another thread, and
 * the compiler may keep a TLS address it computed before (ng_getm above):
 * TSan builds do.  Here the address is computed afresh. */
static __attribute__((noinline)) void count_select(void)
{
	ng_count_chan(NG_SC_SELECT);
}

int ng_select(ng_case *cases, size_t n, int64_t deadline)
{
	if (deadline == 0)
		ng_preempt_point(); /* blocking selects are checked when they park */
	if (n > 0 && cases == NULL)
		return -EINVAL;
	if (n > SELECT_MAX_CASES)
		return -EINVAL;
	uint32_t stack_order[SELECT_STACK_CASE];
	uint32_t *pollorder = stack_order;
	if (n > SELECT_STACK_CASE) {
		pollorder = malloc(n * sizeof *pollorder);
		if (pollorder == NULL)
			return -ENOMEM;
	}
	ng_m *m = ng_getm();
	/* Random poll order over the enabled cases (Go: cheaprandn insert). */
	uint32_t nen = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		ng_case *k = &cases[i];
		if (k->chan == NULL)
			continue;
		if ((k->op != NG_RECV && k->op != NG_SEND) ||
		    (k->op == NG_SEND && k->elem == NULL && k->chan->elemsize != 0)) {
			rc = -EINVAL;
			goto out;
		}
		uint32_t r = m != NULL ? ng_fastrand_m(m) : ng_fastrand();
		uint32_t j = (uint32_t)(((uint64_t)r * (nen + 1)) >> 32);
		pollorder[nen] = pollorder[j];
		pollorder[j] = (uint32_t)i;
		nen++;
	}
	if (nen == 0) {
		/* Go's empty select: blocks forever (the deadlock detector sees
		 * it), or until the deadline. */
		if (deadline == 0) {
			rc = -EAGAIN;
			goto out;
		}
		ng_waiter w;
		waiter_init(&w);
		if (deadline == NG_FOREVER || deadline > ng_nanotime())
			ng_waiter_sleep(&w, NG_WAIT_SELECT_NO_CASES, deadline, NULL, NULL);
		rc = -ETIMEDOUT;
		goto out;
	}
	/* Fast path: one lock for a case that looks ready. */
	for (uint32_t i = 0; i < nen; i++) {
		ng_case *k = &cases[pollorder[i]];
		if (!looks_ready(k))
			continue;
		chan_lock(k->chan);
		ng_waiter *wake = NULL;
		bool ran = try_case_locked(k, &wake);
		chan_unlock(k->chan);
		if (wake != NULL)
			chan_wake_xfer(wake); /* a hand-off: count it */
		if (ran) {
			rc = (int)pollorder[i];
			goto out;
		}
	}
	rc = select_slow(cases, deadline, pollorder, nen);
out:
	if (pollorder != stack_order)
		free(pollorder);
	if (rc >= 0)
		count_select(); /* a case ran (its rc may be -EPIPE) */
	return rc;
}

static int select_slow(ng_case *cases, int64_t deadline, const uint32_t *pollorder, uint32_t nen)
{
	uint32_t stack_lock[SELECT_STACK_CASE];
	uint32_t *lockorder = stack_lock;
	ng_waiter stack_ws[SELECT_STACK_CASE / 2];
	ng_waiter *waiters = NULL;
	int rc;
	if (nen > SELECT_STACK_CASE) {
		lockorder = malloc(nen * sizeof *lockorder);
		if (lockorder == NULL)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < nen; i++)
		lockorder[i] = pollorder[i];
	sort_lockorder(cases, lockorder, nen);
	sel s = {cases, lockorder, nen};
	lock_all(&s);
	/* pass 1: anything ready, in poll order, with everything locked */
	for (uint32_t i = 0; i < nen; i++) {
		ng_case *k = &cases[pollorder[i]];
		ng_waiter *wake = NULL;
		bool ran = try_case_locked(k, &wake);
		if (ran) {
			unlock_all(&s);
			if (wake != NULL)
				chan_wake_xfer(wake); /* a hand-off: count it */
			rc = (int)pollorder[i];
			goto out;
		}
	}
	if (deadline == 0) {
		unlock_all(&s);
		rc = -EAGAIN;
		goto out;
	}
	if (deadline != NG_FOREVER && ng_nanotime() >= deadline) {
		unlock_all(&s);
		rc = -ETIMEDOUT;
		goto out;
	}
	/* pass 2: a waiter on every channel, all claimed through one word */
	waiters = nen <= SELECT_STACK_CASE / 2 ? stack_ws : malloc(nen * sizeof *waiters);
	if (waiters == NULL) {
		unlock_all(&s);
		rc = -ENOMEM;
		goto out;
	}
	ng_m *m = ng_getm();
	ng_g *g = m != NULL ? m->curg : NULL;
	_Atomic int *claim = &waiters[0].own_claim;
	for (uint32_t i = 0; i < nen; i++) {
		uint32_t ci = lockorder[i];
		ng_case *k = &cases[ci];
		ng_waiter *w = &waiters[i];
		waiter_init(w);
		w->claim = claim;
		w->contested = true;
		w->notep = &waiters[0].note;
		w->g = g;
		w->fblocked = g == NULL && deadline == NG_FOREVER;
		w->data = k->elem;
		w->chan = k->chan;
		w->case_index = (int)ci;
		atomic_fetch_add_explicit(&k->chan->refs, 1, memory_order_relaxed);
		waitq_push(k->op == NG_RECV ? &k->chan->recvq : &k->chan->sendq, w);
	}
	bool woken = ng_waiter_sleep(&waiters[0], NG_WAIT_SELECT, deadline, unlock_all, &s);
	lock_all(&s);
	int fired = -1;
	for (uint32_t i = 0; i < nen; i++) {
		ng_waiter *w = &waiters[i];
		ng_case *k = &cases[w->case_index];
		if (w->linked)
			waitq_remove(k->op == NG_RECV ? &k->chan->recvq : &k->chan->sendq, w);
		if (woken && fired < 0 && atomic_load_explicit(&w->done, memory_order_acquire))
			fired = (int)i;
	}
	unlock_all(&s);
	for (uint32_t i = 0; i < nen; i++)
		ng_chan_release(waiters[i].chan);
	if (!woken) {
		rc = -ETIMEDOUT;
	} else if (fired < 0) {
		ng_fatal("select: woken with no case fired");
	} else {
		ng_waiter *w = &waiters[fired];
		ng_case *k = &cases[w->case_index];
		k->rc = w->result;
		if (k->rc == -EPIPE && k->op == NG_RECV)
			chan_zero(k->chan, k->elem);
		rc = w->case_index;
	}
out:
	if (waiters != NULL && waiters != stack_ws)
		free(waiters);
	if (lockorder != stack_lock)
		free(lockorder);
	return rc;
}
