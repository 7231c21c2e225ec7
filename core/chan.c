/* core/chan.c — channels (Go's runtime/chan.go).
 *
 * A blocked sender or receiver is an ng_waiter on the goroutine's (or
 * foreign thread's) stack, queued on the channel.  The side that finds a
 * waiter copies the element straight to or from the waiter's buffer — no
 * intermediate copy through the channel — and readies it.  Waiters are
 * claimed with a CAS before anything is handed to them, so a deadline (or,
 * for a select, another case) that fires first simply makes the waker skip
 * them.
 *
 * Failing non-blocking operations never take the lock (Go's fast path):
 * "not ready" is decided from a relaxed look at the queues, the count and
 * the closed flag, in an order that makes the answer true at some instant.
 *
 * Lifetime: references.  A timed wait and a select hold one while they
 * sleep (they touch the channel again after waking); an untimed wait does
 * not need one: once woken it never touches the channel again.
 */
#define _GNU_SOURCE
#include "chan.h"

#include <errno.h>
#include <stdlib.h>

#define CHAN_MAX_BYTES ((size_t)1 << 40)

ng_chan *ng_chan_make(size_t elem_size, size_t capacity)
{
	if (elem_size > ((size_t)1 << 20) ||
	    (elem_size != 0 && capacity > CHAN_MAX_BYTES / elem_size) ||
	    capacity > ((size_t)1 << 40)) {
		errno = EINVAL;
		return NULL;
	}
	/* Whole cache lines of its own (two channels used by different cores
	 * must not share one), but through malloc plus manual alignment:
	 * aligned_alloc takes glibc's slow memalign path on every make. */
	size_t bytes = elem_size * capacity;
	size_t head = (sizeof(ng_chan) + 63) & ~(size_t)63;
	size_t len = (head + bytes + 63) & ~(size_t)63;
	void *raw = malloc(len + 64);
	if (raw == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	ng_chan *c = (ng_chan *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
	memset(c, 0, sizeof *c);
	c->raw = raw;
	c->cap = capacity;
	c->elemsize = elem_size;
	c->buf = (char *)c + head;
	atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
	ng_gauge_add(NG_GAUGE_CHANS, 1);
	return c;
}

void ng_chan_retain(ng_chan *c)
{
	if (c != NULL)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void ng_chan_free(ng_chan *c)
{
	ng_gauge_add(NG_GAUGE_CHANS, -1);
	free(c->raw);
}

void ng_chan_release(ng_chan *c)
{
	if (c == NULL)
		return;
	int64_t old = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
	if (old == 1)
		ng_chan_free(c);
	else if (old <= 0)
		ng_fatal("channel %p released more often than retained", (void *)c);
}

size_t ng_chan_len(const ng_chan *c)
{
	if (c == NULL)
		return 0;
	return atomic_load_explicit(&((ng_chan *)c)->qcount, memory_order_relaxed);
}

size_t ng_chan_cap(const ng_chan *c)
{
	return c == NULL ? 0 : c->cap;
}

size_t ng_chan_elem_size(const ng_chan *c)
{
	return c == NULL ? 0 : c->elemsize;
}

static void unlock_chan(void *c)
{
	chan_unlock(c);
}

static bool park_unlock_chan(ng_g *g, void *c)
{
	(void)g;
	chan_unlock(c);
	return true;
}

/* A goroutine that waits for good: of its waiter only what a waker reads
 * is set (queue links, g, data, contested; the waker writes success, result
 * and done), and woken means done with c: no reference needed (and none
 * paid for on the hot path).  Out of line and calling nothing but ng_park,
 * so that it keeps nothing in callee-saved registers. */
static __attribute__((noinline)) int chan_park(ng_chan *c, ng_waitq_ *q, void *elem, int reason,
                                               ng_g *g)
{
	ng_waiter w;
	w.g = g;
	w.data = elem;
	w.chan = c;
	w.contested = false;
	waitq_push(q, &w);
	ng_park(park_unlock_chan, c, reason);
	return w.result;
}

/* chan_block for the rest: deadlines, foreign threads. */
static __attribute__((noinline)) int chan_block_slow(ng_chan *c, ng_waitq_ *q, void *elem,
                                                     int reason, int64_t deadline)
{
	if (deadline != NG_FOREVER && ng_nanotime() >= deadline) {
		chan_unlock(c);
		return -ETIMEDOUT;
	}
	ng_waiter w;
	waiter_init(&w);
	w.data = elem;
	w.chan = c;
	waitq_push(q, &w);
	if (deadline == NG_FOREVER) {
		/* A foreign thread: woken means done with c (chan_park). */
		ng_waiter_sleep(&w, reason, deadline, unlock_chan, c);
		return w.result;
	}
	/* A timed-out waiter unlinks itself from c: keep c alive until then. */
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	int rc;
	if (ng_waiter_sleep(&w, reason, deadline, unlock_chan, c)) {
		rc = w.result;
	} else {
		chan_lock(c);
		if (w.linked)
			waitq_remove(q, &w);
		chan_unlock(c);
		rc = -ETIMEDOUT;
	}
	ng_chan_release(c);
	return rc;
}

/* Park (or block) on c's queue q with c locked; returns 0, -EPIPE or
 * -ETIMEDOUT, with c unlocked. */
static inline int chan_block(ng_chan *c, ng_waitq_ *q, void *elem, int reason, int64_t deadline)
{
	if (NG_LIKELY(deadline == NG_FOREVER)) {
		ng_m *m = ng_getm();
		if (NG_LIKELY(m != NULL && m->curg != NULL))
			return chan_park(c, q, elem, reason, m->curg);
	}
	return chan_block_slow(c, q, elem, reason, deadline);
}

static int chan_send(ng_chan *c, const void *elem, int64_t deadline)
{
	/* A blocking operation is checked when it parks (schedule_from_g);
	 * a polling loop only here. */
	if (deadline == 0)
		ng_preempt_point();
	if (c == NULL || (elem == NULL && c->elemsize != 0))
		return -EINVAL;
	/* Fast path for a failing non-blocking send: not closed and full. */
	if (deadline == 0 && atomic_load_explicit(&c->closed, memory_order_relaxed) == 0 &&
	    (c->cap == 0 ? !waitq_nonempty_relaxed(&c->recvq)
	                 : atomic_load_explicit(&c->qcount, memory_order_relaxed) == c->cap))
		return -EAGAIN;
	chan_lock(c);
	if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
		chan_unlock(c);
		return -EPIPE;
	}
	ng_waiter *r = waitq_pop(&c->recvq);
	if (r != NULL) {
		chan_send_direct(c, r, elem);
		chan_unlock(c);
		chan_wake_xfer(r);
		return 0;
	}
	if (atomic_load_explicit(&c->qcount, memory_order_relaxed) < c->cap) {
		chan_buf_put(c, elem);
		chan_unlock(c);
		return 0;
	}
	if (deadline == 0) {
		chan_unlock(c);
		return -EAGAIN;
	}
	return chan_block(c, &c->sendq, (void *)elem, NG_WAIT_CHAN_SEND, deadline);
}

static int chan_recv(ng_chan *c, void *elem, int64_t deadline)
{
	if (deadline == 0)
		ng_preempt_point();
	if (c == NULL)
		return -EINVAL;
	if (deadline == 0) {
		/* Fast path (Go's chanrecv with !block): empty and open means
		 * -EAGAIN.  Closed is checked after emptiness, and emptiness
		 * again after closed, so both held at one instant. */
		bool empty = c->cap == 0
		                 ? !waitq_nonempty_relaxed(&c->sendq)
		                 : atomic_load_explicit(&c->qcount, memory_order_acquire) == 0;
		if (empty) {
			if (atomic_load_explicit(&c->closed, memory_order_acquire) == 0)
				return -EAGAIN;
			empty = c->cap == 0
			            ? !waitq_nonempty_relaxed(&c->sendq)
			            : atomic_load_explicit(&c->qcount, memory_order_acquire) == 0;
			if (empty) {
				chan_zero(c, elem);
				return -EPIPE;
			}
		}
	}
	chan_lock(c);
	if (atomic_load_explicit(&c->closed, memory_order_relaxed) &&
	    atomic_load_explicit(&c->qcount, memory_order_relaxed) == 0) {
		chan_unlock(c);
		chan_zero(c, elem);
		return -EPIPE;
	}
	ng_waiter *s = waitq_pop(&c->sendq);
	if (s != NULL) {
		chan_recv_direct(c, s, elem);
		chan_unlock(c);
		chan_wake_xfer(s);
		return 0;
	}
	if (atomic_load_explicit(&c->qcount, memory_order_relaxed) > 0) {
		chan_buf_take(c, elem);
		chan_unlock(c);
		return 0;
	}
	if (deadline == 0) {
		chan_unlock(c);
		return -EAGAIN;
	}
	int rc = chan_block(c, &c->recvq, elem, NG_WAIT_CHAN_RECV, deadline);
	if (rc == -EPIPE)
		chan_zero(c, elem);
	return rc;
}

int ng_chan_send(ng_chan *c, const void *elem)
{
	return chan_send(c, elem, NG_FOREVER);
}

int ng_chan_recv(ng_chan *c, void *elem)
{
	return chan_recv(c, elem, NG_FOREVER);
}

int ng_chan_send_until(ng_chan *c, const void *elem, int64_t deadline)
{
	return chan_send(c, elem, deadline);
}

int ng_chan_recv_until(ng_chan *c, void *elem, int64_t deadline)
{
	return chan_recv(c, elem, deadline);
}

int ng_chan_try_send(ng_chan *c, const void *elem)
{
	return chan_send(c, elem, 0);
}

int ng_chan_try_recv(ng_chan *c, void *elem)
{
	return chan_recv(c, elem, 0);
}

int ng_chan_close(ng_chan *c)
{
	if (c == NULL)
		return -EINVAL;
	chan_lock(c);
	if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
		chan_unlock(c);
		return -EPIPE;
	}
	atomic_store_explicit(&c->closed, 1, memory_order_release);
	/* Claim every waiter under the lock, wake them after it. */
	ng_waiter *list = NULL, *w;
	while ((w = waitq_pop(&c->recvq)) != NULL) {
		chan_zero(c, w->data);
		w->success = false;
		w->next = list;
		list = w;
	}
	while ((w = waitq_pop(&c->sendq)) != NULL) {
		w->success = false;
		w->next = list;
		list = w;
	}
	chan_unlock(c);
	while (list != NULL) {
		w = list;
		list = w->next;
		chan_wake(w); /* w may vanish now */
	}
	return 0;
}
