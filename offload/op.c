/* offload/op.c — operations: submission, completion, waiting, polling.
 *
 * An operation is one enqueued command and its cl_event.  Its state word
 * goes PENDING -> DONE when nobody waits (the completer's one exchange), or
 * PENDING -> PARKED -> DONE when a waiter queued itself first: then the
 * completer takes the op's wait-queue lock and readies every waiter.  The
 * waiter queues itself and moves PENDING -> PARKED under that lock, and a
 * completer that exchanged DONE first makes the CAS fail, so a completion
 * racing a wait is never lost, whichever side gets there first, and a
 * callback that fires before the submitter even returned is just an
 * earlier DONE.
 *
 * Who completes, exactly once (the `completing` CAS):
 *  - the event callback (callback-mode queues), on the driver's thread:
 *    an exchange, maybe a lock and a ready into the global queue; it never
 *    runs goroutines;
 *  - the poller (poll-mode queues): the oldest in-flight command of each
 *    queue is asked for its status, from Ms that found no work
 *    (findrunnable), sysmon, and a runtime timer backing off from 20 us to
 *    1 ms while commands are in flight;
 *  - the watchdog, on the same timer every 2 ms: commands older than 1 ms
 *    whose status is final but whose callback never came (PoCL 3.1 fires
 *    none for a failed command; a late driver's comes after).
 * References: the user's (ng_cl_op_release), the queue's in-flight list's
 * (dropped at completion), the callback token's (dropped by whoever
 * completes). */
#define _GNU_SOURCE
#include "offload.h"

#include "../core/sched_inline.h"
#include "../core/timer.h"

#include <numago/runtime.h>

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MIN_NS       20000LL
#define POLL_MAX_NS       1000000LL
#define WATCHDOG_AGE_NS   1000000LL
#define WATCHDOG_EVERY_NS 2000000LL
/* The watchdog's timer does not back off: a failed command must reach its
 * waiter within 10 ms, and on a loaded machine the timer itself runs late
 * by milliseconds (a 5 ms cap missed 10 ms with four CPU burners on 2
 * vCPUs, test_cl_errors).  500 looks a second while commands are in
 * flight. */

static ng_tmr ticker;
static _Atomic int ticker_armed;
static _Atomic int64_t poll_delay = POLL_MIN_NS;
static _Atomic int64_t last_watchdog;
static _Atomic int32_t polling; /* one poller at a time; the others skip */

static void stat_add(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------- references */

static void op_free(ng_cl_op *op)
{
	clReleaseEvent(op->ev);
	if (op->done_ch != NULL)
		ng_chan_release(op->done_ch);
	/* each op holds exactly one event: one count for both */
	atomic_fetch_sub_explicit(&cl_g.ops_live, 1, memory_order_relaxed);
	free(op);
}

static void op_unref(ng_cl_op *op)
{
	if (atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel) == 1)
		op_free(op);
}

void ng_cl_op_retain(ng_cl_op *op)
{
	if (op != NULL)
		atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
}

void ng_cl_op_release(ng_cl_op *op)
{
	if (op != NULL)
		op_unref(op);
}

static void tok_put(cb_token *t)
{
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		free(t);
}

/* ------------------------------------------------------------- completion */

static void list_unlink_locked(ng_cl_queue *q, ng_cl_op *op)
{
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		q->head = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	else
		q->tail = op->prev;
	op->prev = op->next = NULL;
	op->linked = false;
}

/* Record st and wake the waiters; the caller holds a reference.  Returns
 * false when someone else completed op already. */
static bool op_complete(ng_cl_op *op, cl_int st, int src)
{
	int zero = 0;
	if (!atomic_compare_exchange_strong_explicit(&op->completing, &zero, 1,
	                                             memory_order_acq_rel, memory_order_relaxed))
		return false;
	ng_cl_queue *q = op->q;
	bool unref_list = false;
	ng_spin_lock(&q->lock);
	if (op->linked) {
		list_unlink_locked(q, op);
		unref_list = true;
	}
	ng_spin_unlock(&q->lock);
	/* offload.h: "a failed enqueue or command also prints one line";
	 * nothing printed one for a failed command (test_cl_errors).  Before
	 * the state goes DONE, so the line is out before a waiter resumes. */
	if (st < 0)
		ng_cl_report(op->what, st, "the command failed (its execution status)");
	atomic_store_explicit(&op->status, st, memory_order_relaxed);
	int old = atomic_exchange_explicit(&op->state, OP_DONE, memory_order_seq_cst);
	if (st < 0) {
		stat_add(&ng_stat_offload[NG_SO_FAILED]);
		cl_int none = 0;
		__atomic_compare_exchange_n(&q->first_error, &none, st, false, __ATOMIC_RELAXED,
		                            __ATOMIC_RELAXED);
	}
	if (src != SRC_ENQUEUE)
		stat_add(src == SRC_CALLBACK ? &cl_g.by_callback
		         : src == SRC_POLL   ? &cl_g.by_poll
		                             : &cl_g.by_watchdog);
	/* Waiters queued themselves and moved the state to PARKED under the
	 * lock: take them all.  A done channel made concurrently is closed by
	 * whichever of us and ng_cl_done_chan sees the other (both sides
	 * write, then read the other's word, seq_cst); a second close is a
	 * harmless -EPIPE.  The channel is closed before the waiters are
	 * woken: a waiter that returns from ng_cl_wait and then selects on
	 * the op's done channel must find it ready (test_cl_ops caught a
	 * woken waiter's select with deadline 0 getting -EAGAIN when the
	 * close came after the wakes). */
	ng_chan *ch = __atomic_load_n(&op->done_ch, __ATOMIC_SEQ_CST);
	if (ch != NULL)
		ng_chan_close(ch);
	if (old == OP_PARKED) {
		int res = ng_cl_status_errno(st);
		waitq_lock(&op->wq);
		ng_waiter *w;
		while ((w = waitq_pop(&op->wq)) != NULL)
			ng_waitq_wake(w, res);
		waitq_unlock(&op->wq);
	}
	/* The callback token's hold on op: taken here unless the callback is
	 * the completer (it took it itself). */
	if (op->tok != NULL) {
		cb_token *t = op->tok;
		ng_cl_op *held = atomic_exchange_explicit(&t->op, NULL, memory_order_acq_rel);
		if (held != NULL) {
			atomic_fetch_add_explicit(&cl_g.cb_orphans, 1, memory_order_relaxed);
			op_unref(held); /* not the last: the caller holds one */
		}
		tok_put(t);
	}
	stat_add(&ng_stat_offload[NG_SO_DONE]);
	if (q->mode == NG_CL_COMPLETION_POLL)
		atomic_fetch_sub_explicit(&ng_ext_poll_active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&q->ninflight, 1, memory_order_release);
	/* last: the deadlock detector counts in-flight commands as wakers,
	 * and the goroutines above are runnable by now */
	atomic_fetch_sub_explicit(&cl_g.inflight, 1, memory_order_release);
	if (unref_list)
		op_unref(op);
	return true;
}

static void CL_CALLBACK op_callback(cl_event ev, cl_int st, void *arg)
{
	(void)ev;
	cb_token *t = arg;
	ng_cl_op *op = atomic_exchange_explicit(&t->op, NULL, memory_order_acq_rel);
	if (op != NULL) {
		op_complete(op, st, SRC_CALLBACK);
		op_unref(op);
	} else {
		/* the watchdog or poller completed it first: no orphan after all */
		atomic_fetch_sub_explicit(&cl_g.cb_orphans, 1, memory_order_relaxed);
	}
	tok_put(t);
}

static cl_int event_status(cl_event ev)
{
	cl_int s = CL_QUEUED;
	cl_int e = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof s, &s, NULL);
	if (e != CL_SUCCESS)
		return e < 0 ? e : CL_INVALID_EVENT;
	return s;
}

/* Poll q: complete its finished commands from the oldest (poll mode: stop
 * at the first still running; watchdog: only commands older than
 * WATCHDOG_AGE_NS, final status, all of them).  Returns how many. */
static int poll_queue(ng_cl_queue *q, bool watchdog, int64_t now)
{
	int n = 0;
	for (;;) {
		ng_spin_lock(&q->lock);
		ng_cl_op *op = q->head;
		if (op != NULL && watchdog && now - op->t_submit < WATCHDOG_AGE_NS)
			op = NULL; /* the list is in submission order: nothing older */
		if (op != NULL)
			atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
		ng_spin_unlock(&q->lock);
		if (op == NULL)
			return n;
		cl_int st = event_status(op->ev);
		if (st > CL_COMPLETE) {
			/* still running; a later command of an in-order queue may
			 * have failed without running, look at those too in the
			 * watchdog (rare: a failed dependency) */
			if (watchdog) {
				int m = 0;
				ng_spin_lock(&q->lock);
				ng_cl_op *x = op->linked ? op->next : NULL;
				ng_cl_op *hit = NULL;
				for (; x != NULL && m < 64; x = x->next, m++) {
					if (now - x->t_submit < WATCHDOG_AGE_NS)
						break;
					cl_int xs = event_status(x->ev);
					if (xs < 0) {
						hit = x;
						atomic_fetch_add_explicit(&hit->refs, 1,
						                          memory_order_relaxed);
						break;
					}
				}
				ng_spin_unlock(&q->lock);
				if (hit != NULL) {
					cl_int hs = event_status(hit->ev);
					n += op_complete(hit, hs, SRC_WATCHDOG);
					op_unref(hit);
					op_unref(op);
					continue;
				}
			}
			op_unref(op);
			return n;
		}
		n += op_complete(op, st, watchdog ? SRC_WATCHDOG : SRC_POLL);
		op_unref(op);
	}
}

/* The scheduler's poll hook (findrunnable, sysmon) and the ticker's; only
 * the ticker flushes queues nobody waits on (every 20 us to 1 ms): a
 * flush from every idle M would fight the submitters for the driver's
 * queue lock. */
static int cl_poll_flush(bool flush);

static int cl_poll(void)
{
	return cl_poll_flush(false);
}

static int cl_poll_flush(bool flush)
{
	int32_t zero = 0;
	if (!atomic_compare_exchange_strong_explicit(&polling, &zero, 1, memory_order_acquire,
	                                             memory_order_relaxed))
		return 0;
	int64_t now = ng_nanotime();
	bool watchdog =
	    now - atomic_load_explicit(&last_watchdog, memory_order_relaxed) >= WATCHDOG_EVERY_NS;
	if (watchdog)
		atomic_store_explicit(&last_watchdog, now, memory_order_relaxed);
	int n = 0;
	pthread_mutex_lock(&cl_g.qlock);
	for (ng_cl_queue *q = cl_g.queues; q != NULL; q = q->next_all) {
		if (atomic_load_explicit(&q->ninflight, memory_order_acquire) == 0)
			continue;
		if (flush)
			ng_cl_queue_flush(q);
		if (q->mode == NG_CL_COMPLETION_POLL)
			n += poll_queue(q, false, now);
		else if (watchdog)
			n += poll_queue(q, true, now);
	}
	pthread_mutex_unlock(&cl_g.qlock);
	atomic_store_explicit(&polling, 0, memory_order_release);
	return n;
}

static void ticker_arm(int64_t delay)
{
	int zero = 0;
	if (!atomic_load_explicit(&ng_sched_g.running, memory_order_acquire))
		return;
	if (atomic_compare_exchange_strong_explicit(&ticker_armed, &zero, 1, memory_order_acq_rel,
	                                            memory_order_relaxed))
		ng_tmr_add(&ticker, ng_nanotime() + delay);
}

static void ticker_fire(ng_tmr *t, int64_t now)
{
	(void)t;
	atomic_store_explicit(&ticker_armed, 0, memory_order_seq_cst);
	if (now == 0)
		return; /* runtime shutdown */
	int n = cl_poll_flush(true);
	if (atomic_load_explicit(&cl_g.inflight, memory_order_seq_cst) <= 0)
		return;
	int64_t d = POLL_MIN_NS;
	if (atomic_load_explicit(&ng_ext_poll_active, memory_order_relaxed) > 0) {
		/* poll mode: back off while nothing completes */
		d = atomic_load_explicit(&poll_delay, memory_order_relaxed);
		d = n > 0 ? POLL_MIN_NS : (d * 2 > POLL_MAX_NS ? POLL_MAX_NS : d * 2);
		atomic_store_explicit(&poll_delay, d, memory_order_relaxed);
	} else {
		d = WATCHDOG_EVERY_NS; /* callback mode: only the watchdog needs it */
	}
	ticker_arm(d);
}

static int cl_pending(void)
{
	return atomic_load_explicit(&cl_g.inflight, memory_order_acquire) > 0 ||
	       ng_cl_jobs_running();
}

void ng_cl_ops_init(void)
{
	ng_tmr t0 = NG_TMR_INIT(ticker_fire, NULL);
	ticker = t0;
	ticker.flags = NG_TMR_F_NOWAIT;
	ng_register_ext_poller(cl_poll);
	ng_register_pending_waker(cl_pending);
}

/* ------------------------------------------------------------- submission */

/* A new op for ev, in q's in-flight list; NULL (ev released) without
 * memory. */
static ng_cl_op *op_new(ng_cl_queue *q, cl_event ev, const char *what)
{
	ng_cl_op *op = calloc(1, sizeof *op);
	if (op == NULL) {
		clReleaseEvent(ev);
		return NULL;
	}
	atomic_fetch_add_explicit(&cl_g.ops_live, 1, memory_order_relaxed);
	op->ev = ev;
	op->q = q;
	op->what = what;
	op->t_submit = ng_nanotime();
	atomic_init(&op->refs, 2); /* the caller's, the in-flight list's */
	atomic_init(&op->state, OP_PENDING);
	atomic_init(&op->status, CL_QUEUED);
	atomic_fetch_add_explicit(&cl_g.inflight, 1, memory_order_acq_rel);
	atomic_fetch_add_explicit(&q->ninflight, 1, memory_order_acq_rel);
	stat_add(&ng_stat_offload[NG_SO_OPS]);
	ng_trace_offload(0, CL_QUEUED);
	ng_spin_lock(&q->lock);
	op->linked = true;
	op->prev = q->tail;
	if (q->tail != NULL)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	ng_spin_unlock(&q->lock);
	atomic_store_explicit(&q->dirty, 1, memory_order_release);
	return op;
}

/* (The callback token is allocated in this function: cl_lsan_errors.supp
 * names it.) */
int ng_cl_op_submit(ng_cl_queue *q, cl_event ev, const char *what, ng_cl_op **out)
{
	ng_cl_op *op = op_new(q, ev, what);
	if (op == NULL)
		return -ENOMEM;
	*out = op;
	if (q->mode == NG_CL_COMPLETION_CALLBACK) {
		cb_token *t = malloc(sizeof *t);
		if (t != NULL) {
			atomic_init(&t->refs, 2);
			atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
			atomic_init(&t->op, op);
			op->tok = t;
			cl_int e = clSetEventCallback(ev, CL_COMPLETE, op_callback, t);
			if (e == CL_SUCCESS) {
				ticker_arm(WATCHDOG_EVERY_NS);
				return 0;
			}
			op->tok = NULL;
			free(t);
			op_unref(op);
		}
		/* no callback: the watchdog still completes it, from the timer */
		ticker_arm(POLL_MIN_NS);
		return 0;
	}
	atomic_fetch_add_explicit(&ng_ext_poll_active, 1, memory_order_relaxed);
	atomic_store_explicit(&poll_delay, POLL_MIN_NS, memory_order_relaxed);
	ticker_arm(POLL_MIN_NS);
	return 0;
}

/* Has d's command failed already?  PoCL (3.1) never starts a command
 * enqueued after an event that had failed by then, nor fails it: its
 * waiters, and every later command of its in-order queue, would hang
 * (test_fault_cl).  A dependency that fails after the enqueue PoCL fails
 * the command for (test_cl_errors). */
static bool dep_failed(const ng_cl_op *d)
{
	if (atomic_load_explicit(&d->state, memory_order_acquire) == OP_DONE)
		return atomic_load_explicit(&d->status, memory_order_relaxed) < 0;
	return event_status(d->ev) < 0;
}

/* No callback to wait for (PoCL calls none for a failed event: its token
 * would be orphaned), nor the watchdog's delay. */
int ng_cl_op_submit_failed(ng_cl_queue *q, cl_event ev, const char *what, cl_int st, ng_cl_op **out)
{
	ng_cl_op *op = op_new(q, ev, what);
	if (op == NULL)
		return -ENOMEM;
	*out = op;
	if (q->mode == NG_CL_COMPLETION_POLL) /* op_complete takes it back */
		atomic_fetch_add_explicit(&ng_ext_poll_active, 1, memory_order_relaxed);
	op_complete(op, st, SRC_ENQUEUE);
	return 0;
}

int ng_cl_deps(ng_cl_queue *q, ng_cl_op *const *deps, int ndeps, cl_event *evs)
{
	if (ndeps < 0 || (ndeps > 0 && deps == NULL))
		return -EINVAL;
	int n = 0;
	bool failed = false;
	for (int i = 0; i < ndeps; i++) {
		ng_cl_op *d = deps[i];
		if (d == NULL)
			continue;
		if (d->q->dev != q->dev)
			return -EINVAL; /* another context: OpenCL cannot order them */
		/* a dependency on another queue must have been submitted to the
		 * device for ours to ever start */
		if (d->q != q)
			ng_cl_queue_flush(d->q);
		failed |= dep_failed(d);
		evs[n++] = d->ev;
	}
	return failed ? -EIO : n;
}

void ng_cl_queue_flush(ng_cl_queue *q)
{
	if (atomic_load_explicit(&q->dirty, memory_order_relaxed) &&
	    atomic_exchange_explicit(&q->dirty, 0, memory_order_acq_rel)) {
		clFlush(q->cq);
		stat_add(&cl_g.flushes);
	}
}

/* ---------------------------------------------------------------- waiting */

static int op_result(const ng_cl_op *op)
{
	cl_int st = atomic_load_explicit(&op->status, memory_order_relaxed);
	return ng_cl_status_errno(st);
}

/* A thread that is not a goroutine may wait while the runtime is not even
 * running (no ticker, no watchdog, no poller): it looks at the event
 * itself, sleeping 10 us doubling to 1 ms between looks; a callback that
 * completes the op meanwhile is simply seen at the next look. */
static int wait_foreign(ng_cl_op *op, int64_t deadline)
{
	int64_t pause = 10000;
	for (;;) {
		if (atomic_load_explicit(&op->state, memory_order_acquire) == OP_DONE)
			return op_result(op);
		cl_int st = event_status(op->ev);
		if (st <= CL_COMPLETE) {
			op_complete(op, st, SRC_POLL);
			continue;
		}
		int64_t now = ng_nanotime();
		if (deadline != NG_FOREVER && now >= deadline)
			return -ETIMEDOUT;
		int64_t d = pause;
		if (deadline != NG_FOREVER && deadline - now < d)
			d = deadline - now;
		struct timespec ts = {d / 1000000000, d % 1000000000};
		nanosleep(&ts, NULL);
		if (pause < 1000000)
			pause *= 2;
	}
}

int ng_cl_wait(ng_cl_op *op, int64_t deadline)
{
	if (op == NULL)
		return -EINVAL;
	if (atomic_load_explicit(&op->state, memory_order_acquire) == OP_DONE)
		return op_result(op);
	ng_cl_queue_flush(op->q);
	if (deadline == 0)
		return -EAGAIN;
	/* Poll mode with a waiter: look at once, and make sure the ticker runs
	 * at its fast rate (an idle P polls when this goroutine parks). */
	if (op->q->mode == NG_CL_COMPLETION_POLL) {
		cl_poll();
		if (atomic_load_explicit(&op->state, memory_order_acquire) == OP_DONE)
			return op_result(op);
		atomic_store_explicit(&poll_delay, POLL_MIN_NS, memory_order_relaxed);
	}
	if (ng_self_proc() < 0)
		return wait_foreign(op, deadline);
	ng_waiter w;
	waiter_init(&w);
	waitq_lock(&op->wq);
	int pending = OP_PENDING;
	if (!atomic_compare_exchange_strong_explicit(&op->state, &pending, OP_PARKED,
	                                             memory_order_acq_rel, memory_order_acquire) &&
	    pending == OP_DONE) {
		waitq_unlock(&op->wq);
		return op_result(op);
	}
	stat_add(&ng_stat_offload[NG_SO_PARKS]);
	int r = ng_waitq_block_until(&op->wq, &w, NG_WAIT_OFFLOAD, deadline);
	if (r != -ETIMEDOUT)
		ng_trace_offload(1, atomic_load_explicit(&op->status, memory_order_relaxed));
	return r;
}

int ng_cl_wait_all(ng_cl_op *const *ops, int n, int64_t deadline)
{
	if (n < 0 || (n > 0 && ops == NULL))
		return -EINVAL;
	int first = 0;
	for (int i = 0; i < n; i++) {
		if (ops[i] == NULL)
			continue;
		int r = ng_cl_wait(ops[i], deadline);
		if (r == -ETIMEDOUT)
			return r;
		if (r != 0 && first == 0)
			first = r;
	}
	return first;
}

int ng_cl_op_done(const ng_cl_op *op)
{
	return op != NULL && atomic_load_explicit(&op->state, memory_order_acquire) == OP_DONE;
}

cl_int ng_cl_op_status(const ng_cl_op *op)
{
	if (op == NULL)
		return CL_INVALID_VALUE;
	if (atomic_load_explicit(&op->state, memory_order_acquire) == OP_DONE)
		return atomic_load_explicit(&op->status, memory_order_relaxed);
	cl_int st = event_status(op->ev);
	return st > 0 ? st : CL_RUNNING; /* final, but not delivered yet */
}

cl_event ng_cl_op_event(const ng_cl_op *op)
{
	return op != NULL ? op->ev : NULL;
}

ng_chan *ng_cl_done_chan(ng_cl_op *op)
{
	if (op == NULL)
		return NULL;
	waitq_lock(&op->wq);
	ng_chan *ch = op->done_ch;
	if (ch == NULL) {
		ch = ng_chan_make(0, 0);
		if (ch == NULL) {
			waitq_unlock(&op->wq);
			return NULL;
		}
		__atomic_store_n(&op->done_ch, ch, __ATOMIC_SEQ_CST);
	}
	waitq_unlock(&op->wq);
	/* A new channel: the completer may have missed it.  An existing one
	 * too once the op is DONE: a waiter can see DONE (ng_cl_wait's fast
	 * path) a moment before the completer closes it, and the channel
	 * asked for after a wait must be ready; a second close is -EPIPE. */
	if (atomic_load_explicit(&op->state, memory_order_seq_cst) == OP_DONE)
		ng_chan_close(ch);
	else
		ng_cl_queue_flush(op->q);
	return ch;
}

/* --------------------------------------------------------------- stats */

int ng_cl_stats_read(ng_cl_stats *out)
{
	if (out == NULL)
		return -EINVAL;
	out->ops = atomic_load(&ng_stat_offload[NG_SO_OPS]);
	out->completed = atomic_load(&ng_stat_offload[NG_SO_DONE]);
	out->failed = atomic_load(&ng_stat_offload[NG_SO_FAILED]);
	out->by_callback = atomic_load(&cl_g.by_callback);
	out->by_poll = atomic_load(&cl_g.by_poll);
	out->by_watchdog = atomic_load(&cl_g.by_watchdog);
	out->parks = atomic_load(&ng_stat_offload[NG_SO_PARKS]);
	out->flushes = atomic_load(&cl_g.flushes);
	out->events_live = atomic_load(&cl_g.ops_live); /* one event per op */
	out->ops_live = atomic_load(&cl_g.ops_live);
	out->inflight = atomic_load(&cl_g.inflight);
	out->cb_orphans = atomic_load(&cl_g.cb_orphans);
	return 0;
}
